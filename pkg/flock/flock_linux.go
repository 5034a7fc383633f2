// Package flock takes the advisory file locks that serialize podnet
// processes on a node: flock(2), held until the file is closed.
package flock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock takes a flock on path, exclusive or shared, creating the file
// (0600) and its directory (0700) when missing, and returns the release.
// It blocks while another process holds a conflicting lock.
// Equivalent to: `flock [-s] $path`.
func Lock(path string, exclusive bool) (unlock func(), err error) {
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
	if err := Retry(f, how); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// Retry is flock(2) on f with how (LOCK_EX, LOCK_SH, LOCK_UN), retried
// when a signal interrupts the wait.
func Retry(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
