package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSplitSysctl(t *testing.T) {
	for _, c := range []struct{ key, dir, rest string }{
		{"net/ipv4/ip_forward", "net/ipv4", "ip_forward"},
		{"net/ipv6/conf/eth0/accept_ra", "net/ipv6", "conf/eth0/accept_ra"},
		{"net/core/somaxconn", "", "net/core/somaxconn"},
		{"net/ipv4", "", "net/ipv4"},
		{"kernel/hostname", "", "kernel/hostname"},
	} {
		if dir, rest := splitSysctl(c.key); dir != c.dir || rest != c.rest {
			t.Errorf("splitSysctl(%q) = %q, %q; want %q, %q", c.key, dir, rest, c.dir, c.rest)
		}
	}
}

// TestSysctlTree runs the tree on a directory that stands in for
// /proc/sys: reads, writes, ensure writing only on a difference, keys
// outside net/ipv4 and net/ipv6, a missing key, and reuse after close.
func TestSysctlTree(t *testing.T) {
	root := t.TempDir()
	old := procSys
	procSys = root
	t.Cleanup(func() { procSys = old })
	files := map[string]string{
		"net/ipv4/ip_forward":          "0\n",
		"net/ipv6/conf/br0/accept_ra":  "1\n",
		"net/ipv6/conf/br0/accept_dad": "1\n",
		"net/core/somaxconn":           "4096\n",
	}
	for k, v := range files {
		p := filepath.Join(root, k)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tree := &sysctlTree{}
	defer tree.close()
	if v, err := tree.read("net/ipv4/ip_forward"); err != nil || v != "0" {
		t.Fatalf("read ip_forward = %q, %v", v, err)
	}
	if v, err := tree.read("net/core/somaxconn"); err != nil || v != "4096" {
		t.Fatalf("read somaxconn = %q, %v", v, err)
	}
	if err := tree.write("net/ipv6/conf/br0/accept_ra", "0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "net/ipv6/conf/br0/accept_ra")); string(b) != "0" {
		t.Errorf("accept_ra file = %q after write", b)
	}
	// ensure leaves an equal value alone: the file's mtime stays.
	dad := filepath.Join(root, "net/ipv6/conf/br0/accept_dad")
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(dad, past, past); err != nil {
		t.Fatal(err)
	}
	if err := tree.ensure("net/ipv6/conf/br0/accept_dad", "1"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dad); !fi.ModTime().Equal(past) {
		t.Errorf("ensure rewrote an equal value (mtime %v)", fi.ModTime())
	}
	if err := tree.ensure("net/ipv6/conf/br0/accept_dad", "0"); err != nil {
		t.Fatal(err)
	}
	if v, _ := tree.read("net/ipv6/conf/br0/accept_dad"); v != "0" {
		t.Errorf("accept_dad = %q after ensure 0", v)
	}
	if _, ok := netnsCookie(); ok && len(tree.dirs) != 2 {
		t.Errorf("tree holds %d directories, want 2 (net/ipv4, net/ipv6)", len(tree.dirs))
	}
	if _, err := tree.read("net/ipv6/conf/gone/accept_ra"); err == nil {
		t.Error("read of a missing key succeeded")
	}
	tree.close()
	if len(tree.dirs) != 0 {
		t.Errorf("close left %d directories", len(tree.dirs))
	}
	if v, err := tree.read("net/ipv4/ip_forward"); err != nil || v != "0" {
		t.Errorf("read after close = %q, %v", v, err)
	}
}
