package hostlocal

import (
	"bufio"
	"bytes"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// loadFixture writes testdata/<name>.txt into dataDir/net1.
func loadFixture(t *testing.T, dataDir, name string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".txt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(dataDir, "net1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		fname, quoted, _ := strings.Cut(line, " ")
		content, err := strconv.Unquote(quoted)
		if err != nil {
			t.Fatalf("fixture line %q: %v", line, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fname), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The reference plugin's store operations, reimplemented from its
// backend/disk/backend.go for interoperability tests.

func refReserve(t *testing.T, dir, cid, ifname, ip string) bool {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ip), os.O_RDWR|os.O_EXCL|os.O_CREATE, 0o600)
	if os.IsExist(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.TrimSpace(cid) + "\r\n" + ifname); err != nil {
		t.Fatal(err)
	}
	return true
}

// refWalk returns the paths the reference's GetByID/ReleaseByID match: it
// walks the whole tree (subdirectories included) comparing trimmed content.
func refWalk(t *testing.T, dir, cid, ifname string) []string {
	t.Helper()
	match := strings.TrimSpace(cid) + "\r\n" + ifname
	var out []string
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err == nil && strings.TrimSpace(string(data)) == match {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func refReleaseByID(t *testing.T, dir, cid, ifname string) {
	t.Helper()
	for _, p := range refWalk(t, dir, cid, ifname) {
		if err := os.Remove(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
}

func openDisk(t *testing.T, dataDir string, log *slog.Logger) (*DiskStore, *Pool) {
	t.Helper()
	st, err := OpenDisk(dataDir, "net1", log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, &Pool{Store: st, Log: log}
}

// storeFiles lists the network directory (not .podnet) as "name=content".
func storeFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name()+"/")
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e.Name()+"="+strconv.Quote(string(b)))
	}
	return out
}

func TestDiskLayoutIsReference(t *testing.T) {
	data := t.TempDir()
	st, p := openDisk(t, data, nil)
	c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)
	mustAlloc(t, p, att(1), c)
	got := strings.Join(storeFiles(t, st.Dir()), "\n")
	want := strings.Join([]string{
		`.podnet/`,
		`10.1.0.2="c1\r\neth0"`,
		`fd00::2="c1\r\neth0"`,
		`last_reserved_ip.0="10.1.0.2"`,
		`last_reserved_ip.1="fd00::2"`,
		`lock=""`,
	}, "\n")
	if got != want {
		t.Fatalf("store files\n got:\n%s\nwant:\n%s", got, want)
	}
	// Modes: files 0600, new directories 0700, everywhere in the store.
	err := filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if path != data && info.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, info.Mode(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the reference sees when it searches by ID: exactly our two files.
	if m := refWalk(t, st.Dir(), "c1", "eth0"); strings.Join(m, ",") != "10.1.0.2,fd00::2" {
		t.Fatalf("the reference would match %v", m)
	}
}

func TestDiskReferenceFixture(t *testing.T) {
	data := t.TempDir()
	loadFixture(t, data, "reference-net1")
	st, p := openDisk(t, data, nil)
	c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)

	// Round-robin continues from the reference's cursors; no double allocation.
	if got := mustAlloc(t, p, att(1), c); got != "10.1.0.6/24 gw 10.1.0.1, fd00::4/64 gw fd00::1" {
		t.Fatalf("first ADD on a reference store got %s", got)
	}
	// Duplicate detection sees reference-written reservations.
	if _, err := p.Allocate(Attachment{ContainerID: "aaaa1111", IfName: "eth0"}, c); err == nil || !strings.Contains(err.Error(), "10.1.0.2 has been allocated to aaaa1111") {
		t.Fatalf("duplicate of a reference reservation: %v", err)
	}
	// DEL releases reference-written reservations, dual-stack and legacy.
	rel, err := p.Release(Attachment{ContainerID: "bbbb2222", IfName: "eth0"})
	if err != nil || len(rel) != 2 {
		t.Fatalf("release bbbb2222: %v %v", rel, err)
	}
	if rel, err := p.Release(Attachment{ContainerID: "legacy3333", IfName: "eth0"}); err != nil || len(rel) != 1 || rel[0].String() != "10.1.0.4" {
		t.Fatalf("release legacy: %v %v", rel, err)
	}
	// CHECK sees a reference reservation.
	c4 := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	if err := p.Check(Attachment{ContainerID: "cccc4444", IfName: "net1"}, c4, []net.IP{net.ParseIP("10.1.0.5")}); err != nil {
		t.Fatalf("CHECK of a reference reservation: %v", err)
	}
	// GC keeps the listed ones and removes the rest.
	removed, err := p.GC([]Attachment{att(1)})
	if err != nil || len(removed) != 2 {
		t.Fatalf("GC removed %v, %v; want aaaa1111 and cccc4444", removed, err)
	}
	got := strings.Join(storeFiles(t, st.Dir()), " ")
	want := `.podnet/ 10.1.0.6="c1\r\neth0" fd00::4="c1\r\neth0" last_reserved_ip.0="10.1.0.6" last_reserved_ip.1="fd00::4" lock=""`
	if got != want {
		t.Fatalf("after GC\n got %s\nwant %s", got, want)
	}
}

// TestDiskSwitchBothWays interleaves the reference's operations with ours on
// one directory: nothing is allocated twice and nothing is lost.
func TestDiskSwitchBothWays(t *testing.T) {
	data := t.TempDir()
	st, p := openDisk(t, data, nil)
	dir := st.Dir()
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	mustAlloc(t, p, att(1), c) // .2 for c1 (indexed)

	// The reference releases c1, gives .2 to c9 and a new .3 to c1.
	refReleaseByID(t, dir, "c1", "eth0")
	if !refReserve(t, dir, "c9", "eth0", "10.1.0.2") || !refReserve(t, dir, "c1", "eth0", "10.1.0.3") {
		t.Fatal("reference reserve failed")
	}
	// Our ADD does not hand out .2 or .3.
	if got := mustAlloc(t, p, att(2), c); got != "10.1.0.4/24 gw 10.1.0.1" {
		t.Fatalf("ADD after the reference wrote got %s", got)
	}
	// The reference adds a second address for c2, which our index lists
	// with .4 only.
	refReserve(t, dir, "c2", "eth0", "10.1.0.50")
	// Our DEL of c1 releases the reference's .3 and not c9's .2; c2's DEL
	// releases both of its addresses.
	if rel, err := p.Release(att(1)); err != nil || len(rel) != 1 || rel[0].String() != "10.1.0.3" {
		t.Fatalf("DEL c1 released %v, %v; want 10.1.0.3", rel, err)
	}
	if rel, err := p.Release(att(2)); err != nil || len(rel) != 2 {
		t.Fatalf("DEL c2 released %v, %v; want 10.1.0.4 and 10.1.0.50", rel, err)
	}
	got := strings.Join(storeFiles(t, dir), " ")
	if !strings.Contains(got, `10.1.0.2="c9\r\neth0"`) || strings.Contains(got, "10.1.0.3") || strings.Contains(got, "10.1.0.50") {
		t.Fatalf("store after DELs: %s", got)
	}
	// And the other way: the reference releases what we reserved.
	mustAlloc(t, p, att(3), c)
	refReleaseByID(t, dir, "c3", "eth0")
	if rel, err := p.Release(att(3)); err != nil || len(rel) != 0 {
		t.Fatalf("DEL after the reference released: %v %v", rel, err)
	}
	if files := storeFiles(t, dir); len(files) != 4 { // .podnet/ 10.1.0.2 last_reserved_ip.0 lock
		t.Fatalf("store: %v", files)
	}
}

// TestDiskIndexTrusted shows the index is rebuilt only when something else
// touched the directory.
func TestDiskIndexTrusted(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	data := t.TempDir()
	st, p := openDisk(t, data, log)
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	mustAlloc(t, p, att(1), c)
	mustAlloc(t, p, att(2), c)
	if _, err := p.Release(att(1)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "rebuilding the index"); n != 1 {
		t.Fatalf("%d rebuilds for a store only podnet wrote; want 1 (the first open):\n%s", n, logs.String())
	}
	refReserve(t, st.Dir(), "c5", "eth0", "10.1.0.99")
	mustAlloc(t, p, att(3), c)
	if !strings.Contains(logs.String(), "store changed outside podnet; rebuilding the index") {
		t.Fatalf("foreign write not detected:\n%s", logs.String())
	}
	if rel, err := p.Release(Attachment{ContainerID: "c5", IfName: "eth0"}); err != nil || len(rel) != 1 {
		t.Fatalf("release foreign reservation: %v %v", rel, err)
	}
}

// TestDiskCrashLeftovers recreates what a process killed mid-ADD leaves: a
// temp file, a reservation without index entry, no stamp; and a torn
// (empty) file from a killed reference plugin.
func TestDiskCrashLeftovers(t *testing.T) {
	data := t.TempDir()
	st, p := openDisk(t, data, nil)
	c := mustConf(t, `{"subnet":"10.1.0.0/29"}`)
	mustAlloc(t, p, att(1), c) // .2
	dir := st.Dir()
	// Killed between link and index update: .3 exists, no index entry, no stamp.
	if err := os.WriteFile(filepath.Join(dir, metaName, tmpName, "r-dead"), []byte("c2\r\neth0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, metaName, tmpName, "r-dead"), filepath.Join(dir, "10.1.0.3")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, metaName, stampName)); err != nil {
		t.Fatal(err)
	}
	// A reference plugin killed between create and write.
	if err := os.WriteFile(filepath.Join(dir, "10.1.0.4"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := mustAlloc(t, p, att(3), c); got != "10.1.0.4/29 gw 10.1.0.1" {
		t.Fatalf("ADD next to a torn file got %s; want the torn .4 reclaimed", got)
	}
	if rel, err := p.Release(att(2)); err != nil || len(rel) != 1 || rel[0].String() != "10.1.0.3" {
		t.Fatalf("DEL of the crashed ADD's attachment: %v %v", rel, err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, metaName, tmpName)); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

func TestDiskTraversal(t *testing.T) {
	data := t.TempDir()
	for _, name := range []string{"..", "../x", "a/../../b", "/abs", ".podnet", ""} {
		if _, err := OpenDisk(filepath.Join(data, "d"), name, nil); err == nil {
			t.Errorf("network name %q accepted", name)
		}
	}
	if entries, _ := os.ReadDir(data); len(entries) != 0 {
		t.Fatalf("something was written for a refused name: %v", entries)
	}
	// Odd but valid IDs only ever reach file contents and a hash.
	_, p := openDisk(t, data, nil)
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	mustAlloc(t, p, Attachment{ContainerID: "..a", IfName: "e..0"}, c)
	var paths []string
	_ = filepath.WalkDir(data, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(data, path)
		paths = append(paths, rel)
		return nil
	})
	for _, p := range paths {
		if p != "." && !strings.HasPrefix(p, "net1") {
			t.Fatalf("wrote outside <dataDir>/net1: %s", p)
		}
	}
}

func TestDiskSnapshotSkipAndExhaustion(t *testing.T) {
	data := t.TempDir()
	st, p := openDisk(t, data, nil)
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	// The reference filled .2-.200; the cursor is unknown, so the walk
	// starts at .1 and passes 199 taken addresses.
	for i := 2; i <= 200; i++ {
		refReserve(t, st.Dir(), "x", "eth"+strconv.Itoa(i), "10.1.0."+strconv.Itoa(i))
	}
	if got := mustAlloc(t, p, att(1), c); got != "10.1.0.201/24 gw 10.1.0.1" {
		t.Fatalf("got %s", got)
	}
	for i := 202; i <= 254; i++ {
		refReserve(t, st.Dir(), "x", "eth"+strconv.Itoa(i), "10.1.0."+strconv.Itoa(i))
	}
	_, err := p.Allocate(att(2), c)
	if err == nil || !strings.Contains(err.Error(), "no IP addresses available in range set: 10.1.0.1-10.1.0.254 (253 of 253 reserved)") {
		t.Fatalf("exhaustion: %v", err)
	}
}

// TestDiskStaleIndexEntryDistrusted: a reservation file rewritten in place
// (no directory change) makes the index entry wrong; the first lookup that
// notices drops the stamp so the next call rebuilds.
func TestDiskStaleIndexEntryDistrusted(t *testing.T) {
	data := t.TempDir()
	st, p := openDisk(t, data, nil)
	c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
	mustAlloc(t, p, att(1), c)
	if err := os.WriteFile(filepath.Join(st.Dir(), "10.1.0.2"), []byte("c9\r\neth0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.Check(att(1), c, nil); err == nil {
		t.Fatal("CHECK passed for an address now owned by c9")
	}
	if b, err := os.ReadFile(filepath.Join(st.Dir(), metaName, stampName)); strings.HasPrefix(string(b), "v2 ") {
		t.Fatalf("stamp %q kept after a stale index entry was seen (%v)", b, err)
	}
	if rel, err := p.Release(Attachment{ContainerID: "c9", IfName: "eth0"}); err != nil || len(rel) != 1 {
		t.Fatalf("release c9 after the rebuild: %v %v", rel, err)
	}
}
