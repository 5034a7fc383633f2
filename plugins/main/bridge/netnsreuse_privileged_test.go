package main

// This file sorts before privileged_test.go on purpose: its test runs
// first in the package, before other tests leave namespaces behind for the
// kernel to clean up, which can hold back the number it waits for.

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/testutil"
)

// TestPrivilegedSysctlTreeReusedNamespace: the kernel hands a dead
// namespace's inode number to a later one, so the tree must not take a
// new namespace with a reused number for the one it opened its
// directories in. While it told them apart by that number, the write below
// failed with ENOENT: it went through the dead namespace's net/ipv6.
func TestPrivilegedSysctlTreeReusedNamespace(t *testing.T) {
	testutil.RequireRoot(t)
	const key = "net/ipv6/conf/all/forwarding"
	tree := &sysctlTree{}
	defer tree.close()
	var skip string
	// The kernel frees a number once the namespace is cleaned up, a little
	// after its last reference is gone, and hands out the lowest free one.
	err := onNewNamespaces(func() error {
		_, err := tree.read(key) // opens the directories here
		return err
	}, func(ino uint64) error {
		if err := tree.write(key, "1"); err != nil {
			return fmt.Errorf("write through a tree last used in a dead namespace with the same number %d: %w", ino, err)
		}
		b, err := os.ReadFile("/proc/sys/" + key)
		if err != nil {
			return err
		}
		if got := strings.TrimSpace(string(b)); got != "1" {
			return fmt.Errorf("%s = %s in the new namespace, want 1", key, got)
		}
		return nil
	}, &skip)
	if err != nil {
		t.Fatal(err)
	}
	if skip != "" {
		t.Skip(skip)
	}
}

// onNewNamespaces runs on one locked thread: it unshares a network
// namespace and calls setup in it, then leaves it behind, unreferenced,
// and unshares new namespaces, keeping those numbered below it, until one
// has its inode number, where it calls reused. Without such a namespace
// within 10 s, skip says so. The thread goes back to its namespace
// afterwards, and every namespace made is released.
func onNewNamespaces(setup func() error, reused func(ino uint64) error, skip *string) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		var kept []int
		defer func() {
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread() // else the thread ends with the goroutine
			}
			unix.Close(orig)
			for _, fd := range kept {
				unix.Close(fd)
			}
		}()
		done <- func() error {
			here := func() (uint64, error) {
				if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
					return 0, fmt.Errorf("unshare a network namespace: %w", err)
				}
				var st unix.Stat_t
				err := unix.Stat("/proc/thread-self/ns/net", &st)
				return st.Ino, err
			}
			first, err := here()
			if err != nil {
				return err
			}
			if err := setup(); err != nil {
				return err
			}
			deadline := time.Now().Add(10 * time.Second)
			for tries := 0; ; tries++ {
				ino, err := here()
				if err != nil {
					return err
				}
				if ino == first {
					return reused(ino)
				}
				if time.Now().After(deadline) {
					*skip = fmt.Sprintf("none of %d new namespaces took the inode number %d of the dead one within 10 s", tries, first)
					return nil
				}
				if ino < first {
					// Keep it: the next namespace must take another
					// hole, and the holes run out.
					fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
					if err != nil {
						return err
					}
					kept = append(kept, fd)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}()
	return <-done
}
