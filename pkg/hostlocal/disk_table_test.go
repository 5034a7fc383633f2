package hostlocal

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// keyWithHome returns a key whose probe starts at slot h of a table of n
// slots, distinct for each id.
func keyWithHome(h uint32, id byte, n uint32) tableKey {
	var k tableKey
	k[0], k[1], k[2], k[3] = byte(h), byte(h>>8), byte(h>>16), byte(h>>24)
	k[15] = id + 1
	if k.home(n) != h {
		panic("bad key")
	}
	return k
}

func ipsOf(s ...string) []net.IP {
	var out []net.IP
	for _, x := range s {
		ip := net.ParseIP(x)
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		out = append(out, ip)
	}
	return out
}

func newTestTable(t *testing.T) (*indexTable, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), tableName)
	tb, err := openTable(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tb.close() })
	return tb, path
}

// TestTableProbeRuns: entries sharing a home slot, a run wrapping past the
// end of the table, and removals from the middle of a run leave every
// other entry findable.
func TestTableProbeRuns(t *testing.T) {
	tb, _ := newTestTable(t)
	n := tb.slots
	keys := []tableKey{
		keyWithHome(n-2, 0, n), keyWithHome(n-2, 1, n), keyWithHome(n-1, 2, n), keyWithHome(n-2, 3, n), // wraps to 0, 1
		keyWithHome(0, 4, n), keyWithHome(5, 5, n),
	}
	for i, k := range keys {
		if err := tb.put(tableEntry{key: k, ips: ipsOf(fmt.Sprintf("10.0.0.%d", i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, victim := range []int{1, 0, 4} {
		if err := tb.remove(keys[victim]); err != nil {
			t.Fatal(err)
		}
		keys[victim] = tableKey{}
		for i, k := range keys {
			if k == (tableKey{}) {
				continue
			}
			e, found, err := tb.get(k)
			if err != nil || !found || !e.ips[0].Equal(net.ParseIP(fmt.Sprintf("10.0.0.%d", i+1))) {
				t.Fatalf("after removing %d: key %d: %v %v %v", victim, i, e, found, err)
			}
		}
	}
	if tb.count != 3 {
		t.Fatalf("count %d, want 3", tb.count)
	}
}

// TestTableModel runs random puts and removes against a map, through
// growth, reopening the file now and then.
func TestTableModel(t *testing.T) {
	tb, path := newTestTable(t)
	rng := rand.New(rand.NewPCG(7, 8))
	model := map[tableKey][]net.IP{}
	for step := 0; step < 3000; step++ {
		a := Attachment{ContainerID: fmt.Sprintf("c%d", rng.IntN(400)), IfName: "eth0"}
		k := keyOf(a)
		switch {
		case rng.IntN(3) > 0:
			ips := ipsOf(fmt.Sprintf("10.%d.0.1", step%250), fmt.Sprintf("fd00::%x", step))
			if rng.IntN(10) == 0 {
				ips = make([]net.IP, slotMaxIPs+1) // overflow
			}
			e := tableEntry{key: k, ips: ips}
			if err := tb.put(e); err != nil {
				t.Fatal(err)
			}
			model[k] = ips
		default:
			if err := tb.remove(k); err != nil {
				t.Fatal(err)
			}
			delete(model, k)
		}
		if step%500 == 0 {
			if err := tb.close(); err != nil {
				t.Fatal(err)
			}
			var err error
			if tb, err = openTable(path, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	if int(tb.count) != len(model) || tb.slots < slotsFor(len(model)) {
		t.Fatalf("count %d slots %d for %d entries", tb.count, tb.slots, len(model))
	}
	for k, want := range model {
		e, found, err := tb.get(k)
		if err != nil || !found {
			t.Fatalf("key %x: %v %v", k, found, err)
		}
		if len(want) > slotMaxIPs {
			if !e.overflow {
				t.Fatalf("key %x: want overflow", k)
			}
			continue
		}
		if !slices.EqualFunc(e.ips, want, net.IP.Equal) {
			t.Fatalf("key %x: %v, want %v", k, e.ips, want)
		}
	}
	all, err := tb.entries()
	if err != nil || len(all) != len(model) {
		t.Fatalf("entries: %d, %v; want %d", len(all), err, len(model))
	}
}

func TestTableRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), tableName)
	for _, content := range []string{"", "c1\r\neth0", tableMagic + strings.Repeat("\x00", 100)} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := openTable(path, false); err == nil {
			t.Errorf("table %q accepted", content)
		}
	}
}

// TestDiskIndexTableLifecycle: ADDs after the first reuse the table file
// (same inode, no new file in the store); DEL of the last attachment
// removes it; the reference never sees it as a reservation.
func TestDiskIndexTableLifecycle(t *testing.T) {
	st, p := openDisk(t, t.TempDir(), nil)
	c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)
	mustAlloc(t, p, att(1), c)
	tbl := filepath.Join(st.Dir(), metaName, tableName)
	ino := inode(t, tbl)
	for i := 2; i <= 70; i++ { // past the first growth
		mustAlloc(t, p, att(i), c)
	}
	if inode(t, tbl) != ino {
		t.Fatal("the index table was replaced, not rewritten in place")
	}
	if m := refWalk(t, st.Dir(), "c5", "eth0"); strings.Join(m, ",") != "10.1.0.6,fd00::6" {
		t.Fatalf("the reference would match %v", m)
	}
	for i := 70; i >= 1; i-- {
		rel, err := p.Release(att(i))
		if err != nil || len(rel) != 2 {
			t.Fatalf("release c%d: %v %v", i, rel, err)
		}
	}
	if _, err := os.Stat(tbl); !os.IsNotExist(err) {
		t.Fatalf("index table left with no attachment: %v", err)
	}
}

// TestDiskIndexOverflow: an attachment with more addresses than a slot
// holds is found by a scan and released completely.
func TestDiskIndexOverflow(t *testing.T) {
	_, p := openDisk(t, t.TempDir(), nil)
	var sets []string
	for i := 0; i <= slotMaxIPs; i++ {
		sets = append(sets, fmt.Sprintf(`[{"subnet":"10.%d.0.0/24"}]`, i))
	}
	c := mustConf(t, `{"ranges":[`+strings.Join(sets, ",")+`]}`)
	mustAlloc(t, p, att(1), c)
	if err := p.Check(att(1), c, nil); err != nil {
		t.Fatalf("CHECK of an overflowing attachment: %v", err)
	}
	if _, err := p.Allocate(att(1), c); err == nil || !strings.Contains(err.Error(), "duplicate allocation") {
		t.Fatalf("second ADD of an overflowing attachment: %v", err)
	}
	if rel, err := p.Release(att(1)); err != nil || len(rel) != slotMaxIPs+1 {
		t.Fatalf("release: %v %v", rel, err)
	}
}

// TestDiskUpgradeFromIndexFiles: a store indexed by an earlier version
// (per-attachment files in .podnet/index, a v1 stamp) is rebuilt into the
// table on first use, and the old files go.
func TestDiskUpgradeFromIndexFiles(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "net1")
	for _, d := range []string{filepath.Join(dir, metaName, indexName), filepath.Join(dir, metaName, tmpName)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	refReserve(t, dir, "c1", "eth0", "10.1.0.2")
	old := filepath.Join(dir, metaName, indexName, "0123456789abcdef0123456789abcdef")
	if err := os.WriteFile(old, []byte("podnet-index v1\nc1\neth0\n10.1.0.2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, p := openDisk(t, data, nil)
	v2, err := dirStamp(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The stamp the earlier version left: exact, but of version 1.
	if err := os.WriteFile(filepath.Join(dir, metaName, stampName), []byte(strings.Replace(v2, "v2", "v1", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if rel, err := p.Release(att(1)); err != nil || len(rel) != 1 {
		t.Fatalf("release after upgrade: %v %v", rel, err)
	}
	if _, err := os.Stat(filepath.Join(st.Dir(), metaName, indexName)); !os.IsNotExist(err) {
		t.Fatalf("old index directory kept: %v", err)
	}
}
