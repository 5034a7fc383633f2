package hostlocal

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestOverwriteFileKeepsInode: shorter content after longer leaves exactly
// the new bytes, in the same inode; a missing file is created only when
// asked.
func TestOverwriteFileKeepsInode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "last_reserved_ip.0")
	if err := overwriteFile(path, []byte("10.0.0.1"), false); !os.IsNotExist(err) {
		t.Fatalf("overwrite of a missing file without create: %v", err)
	}
	if err := overwriteFile(path, []byte("10.0.0.100"), true); err != nil {
		t.Fatal(err)
	}
	ino := inode(t, path)
	if err := overwriteFile(path, []byte("10.0.0.2"), true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "10.0.0.2" {
		t.Fatalf("content %q, want 10.0.0.2", b)
	}
	if inode(t, path) != ino {
		t.Fatal("overwrite replaced the inode")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode())
	}
}

// TestDiskSpoiledStampRebuilds: a stamp spoiled by a lock holder that died
// before Unlock makes the next Lock rebuild the index; a normal hold leaves
// a valid stamp in the same inode.
func TestDiskSpoiledStampRebuilds(t *testing.T) {
	var logs bytes.Buffer
	st, p := openDisk(t, t.TempDir(), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	mustAlloc(t, p, att(1), c)
	stamp := filepath.Join(st.Dir(), metaName, stampName)
	ino := inode(t, stamp)
	mustAlloc(t, p, att(2), c)
	if inode(t, stamp) != ino {
		t.Fatal("the stamp was recreated, not rewritten in place")
	}
	if err := spoilStamp(stamp); err != nil {
		t.Fatal(err)
	}
	logs.Reset()
	mustAlloc(t, p, att(3), c)
	if !bytes.Contains(logs.Bytes(), []byte("no valid index stamp; rebuilding the index")) {
		t.Fatalf("no rebuild after a spoiled stamp; log:\n%s", logs.String())
	}
	logs.Reset()
	if rel, err := p.Release(att(2)); err != nil || len(rel) != 1 {
		t.Fatalf("release after the rebuild: %v %v", rel, err)
	}
	if bytes.Contains(logs.Bytes(), []byte("rebuilding")) {
		t.Fatalf("rebuilt again although the stamp was rewritten; log:\n%s", logs.String())
	}
}
