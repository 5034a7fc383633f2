package flock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	unlock, err := Lock(path, true)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, mode %v", err, st.Mode())
	}
	// Held: a second open file description cannot take it.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		t.Fatal("took a shared lock beside the exclusive one")
	}
	unlock()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatalf("lock still held after unlock: %v", err)
	}
	_ = Retry(f, syscall.LOCK_UN)
	// Shared locks coexist.
	u1, err := Lock(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer u1()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		t.Fatalf("a second shared lock was refused: %v", err)
	}
}
