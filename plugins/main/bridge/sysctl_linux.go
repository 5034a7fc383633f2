package main

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// procSys is where sysctls are read and written; a test may point it
// elsewhere.
var procSys = "/proc/sys"

// sysctlTree reads and writes /proc/sys keys (as "net/ipv4/ip_forward") of
// one network namespace. Keys under net/ipv4 and net/ipv6 are opened
// relative to those two directories, each looked up once per tree.
//
// Why: /proc/sys/net is one directory for the whole machine, and each
// network namespace has its own "ipv4" and "ipv6" entries in it. The
// kernel tells them apart by comparing entry after entry
// (proc_sys_compare), so a full path walks past every namespace's entry
// that is cached: with 500 pods on a node, about 100 µs per open against
// 6 µs with a fresh node (measured cold, between ADDs). Relative to an
// open directory the walk starts below that point.
//
// The kernel resolves names below such a directory in the namespace it
// was opened in, so a tree notes that namespace and, used from a thread in
// another one (tests run many nodes in one process), reopens its
// directories first. nodeSysctls serves the plugin's own namespace; the
// pod setup uses a tree of its own, closed when it is done.
type sysctlTree struct {
	mu   sync.Mutex
	ns   uint64 // netnsCookie of the namespace the dirs were opened in
	dirs map[string]int
}

// netnsCookie returns the calling thread's network namespace as the
// kernel's cookie for it (SO_NETNS_COOKIE, Linux 5.14), and false on an
// older kernel.
//
// Why not the inode number of /proc/thread-self/ns/net: the kernel hands a
// dead namespace's number to the next namespace made, so a tree last used
// in a namespace that is gone would take a new one for it and open keys
// through the dead one's directories (ENOENT). A cookie is never reused.
func netnsCookie() (uint64, bool) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	return c, err == nil
}

// nodeSysctls is the tree of the node's namespace.
var nodeSysctls = &sysctlTree{}

// splitSysctl returns the directory a key is opened from ("net/ipv4" or
// "net/ipv6", "" for any other key) and the rest of the key.
func splitSysctl(key string) (dir, rest string) {
	for _, d := range []string{"net/ipv4/", "net/ipv6/"} {
		if r, ok := strings.CutPrefix(key, d); ok {
			return d[:len(d)-1], r
		}
	}
	return "", key
}

// open opens key with flags, relative to its cached directory.
func (t *sysctlTree) open(key string, flags int) (int, error) {
	dir, rest := splitSysctl(key)
	if dir == "" {
		return unix.Open(filepath.Join(procSys, key), flags|unix.O_CLOEXEC, 0)
	}
	here, ok := netnsCookie()
	if !ok {
		// No way to tell namespaces apart: the full path, every time.
		return unix.Open(filepath.Join(procSys, key), flags|unix.O_CLOEXEC, 0)
	}
	t.mu.Lock()
	if here != t.ns {
		t.closeDirs()
		t.ns = here
	}
	dfd, ok := t.dirs[dir]
	if !ok {
		var err error
		dfd, err = unix.Open(filepath.Join(procSys, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.mu.Unlock()
			return -1, err
		}
		if t.dirs == nil {
			t.dirs = map[string]int{}
		}
		t.dirs[dir] = dfd
	}
	t.mu.Unlock()
	return unix.Openat(dfd, rest, flags|unix.O_CLOEXEC, 0)
}

// read returns the key's value without surrounding space.
func (t *sysctlTree) read(key string) (string, error) {
	fd, err := t.open(key, unix.O_RDONLY)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 64)
	n, err := readFull(fd, buf)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", key, err)
	}
	return string(bytes.TrimSpace(buf[:n])), nil
}

// readFull reads until EOF or a full buffer, retrying EINTR.
func readFull(fd int, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := unix.Read(fd, buf[n:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return n, nil
}

// write sets the key without reading it first, for keys of a link this
// call just created.
func (t *sysctlTree) write(key, value string) error {
	fd, err := t.open(key, unix.O_WRONLY|unix.O_TRUNC)
	if err == nil {
		for {
			_, err = unix.Write(fd, []byte(value))
			if !errors.Is(err, unix.EINTR) {
				break
			}
		}
		unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// ensure sets the key to value, writing only when it differs: a read is
// cheaper than a write, and an unchanged key sends no notification.
func (t *sysctlTree) ensure(key, value string) error {
	cur, err := t.read(key)
	if err != nil {
		return err
	}
	if cur == value {
		return nil
	}
	return t.write(key, value)
}

// close releases the directories; the tree can be used again afterwards.
func (t *sysctlTree) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeDirs()
}

func (t *sysctlTree) closeDirs() {
	for k, fd := range t.dirs {
		unix.Close(fd)
		delete(t.dirs, k)
	}
}

// ensureSysctl is ensure on the node's tree: it acts in the node's
// namespace and must not be called from a thread locked into a pod.
func ensureSysctl(key, value string) error { return nodeSysctls.ensure(key, value) }

// writeSysctl is write on the node's tree.
func writeSysctl(key, value string) error { return nodeSysctls.write(key, value) }
