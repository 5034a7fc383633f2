package netfilter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// hpLock takes a flock on path: shared for ADD and DEL, which only touch
// their own pod's state and may run together, exclusive for GC and for
// creating iptables scaffolding, which must not interleave with them (GC
// removing a table an ADD is filling). It creates the file and its
// directory if needed and returns the release function. An empty path
// locks nothing.
func hpLock(path string, exclusive bool) (unlock func(), err error) {
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
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
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
