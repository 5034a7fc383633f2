package netfilter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// defaultMasqLockPath serializes podnet's iptables masquerade writers on a
// node. (nftables writes are idempotent and need no lock.)
const defaultMasqLockPath = "/run/podnet/iptables-masquerade.lock"

// lockFile takes an exclusive flock on path, creating it (and its
// directory) if needed, and returns the function that releases it. An empty
// path locks nothing.
func lockFile(path string) (unlock func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create lock directory %q: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %q: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	// Closing the file releases the lock.
	return func() { _ = f.Close() }, nil
}
