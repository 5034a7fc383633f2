package hostlocal

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"syscall"
)

// The attachment index is one file, .podnet/index.tbl: an open-addressing
// hash table (linear probing) from a hash of (container ID, ifname) to the
// attachment's addresses. Adding or removing an attachment rewrites one or
// two slots of that file in place; nothing is created or deleted, because
// creating an inode is the dearest step of an ADD on a busy ext4 (its
// inode allocator skips every recently deleted inode). The file exists
// only while some attachment is indexed, so an empty store holds none.
//
// Layout: a 64-byte header (tableMagic, then capacity and count as
// little-endian uint32), then capacity slots of slotSize bytes: the 16-byte
// key (all zero: empty), the number of addresses, then up to slotMaxIPs
// addresses of 16 bytes. An attachment with more addresses than that (more
// range sets) is marked overflowIPs and looked up by a scan.
const (
	tableName   = "index.tbl"
	tableMagic  = "podnet-index-table v1\n"
	tableHeader = 64
	slotSize    = 128
	slotMaxIPs  = 6
	minSlots    = 64
	overflowIPs = 0xff
)

// errBadTable marks a table file that is not one this package wrote.
var errBadTable = errors.New("not a podnet index table")

// tableKey identifies an attachment in the table.
type tableKey [16]byte

func keyOf(a Attachment) tableKey {
	sum := sha256.Sum256([]byte(a.ContainerID + "\x00" + a.IfName))
	var k tableKey
	copy(k[:], sum[:])
	if k == (tableKey{}) {
		k[0] = 1 // all zero marks an empty slot
	}
	return k
}

// home is the slot where the probe for k starts, in a table of n slots (a
// power of two).
func (k tableKey) home(n uint32) uint32 { return binary.LittleEndian.Uint32(k[:4]) & (n - 1) }

// tableEntry is one used slot.
type tableEntry struct {
	key tableKey
	// ips are the addresses; nil with overflow.
	ips      []net.IP
	overflow bool
}

func encodeSlot(e tableEntry) []byte {
	b := make([]byte, slotSize)
	copy(b, e.key[:])
	if e.overflow || len(e.ips) > slotMaxIPs {
		b[16] = overflowIPs
		return b
	}
	b[16] = byte(len(e.ips))
	for i, ip := range e.ips {
		copy(b[17+16*i:], ip.To16())
	}
	return b
}

// decodeSlot parses a slot; used is false for an empty one.
func decodeSlot(b []byte) (e tableEntry, used bool, err error) {
	copy(e.key[:], b)
	if e.key == (tableKey{}) {
		return e, false, nil
	}
	n := int(b[16])
	if n == overflowIPs {
		e.overflow = true
		return e, true, nil
	}
	if n == 0 || n > slotMaxIPs {
		return e, true, fmt.Errorf("%w: slot with %d addresses", errBadTable, n)
	}
	for i := 0; i < n; i++ {
		ip := net.IP(bytes.Clone(b[17+16*i : 33+16*i]))
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		e.ips = append(e.ips, ip)
	}
	return e, true, nil
}

// slotsFor is the capacity for n entries: a power of two, at most half
// full.
func slotsFor(n int) uint32 {
	s := uint32(minSlots)
	for int(s) < 2*n {
		s *= 2
	}
	return s
}

// buildTable renders a table holding entries.
func buildTable(entries []tableEntry) []byte {
	n := slotsFor(len(entries))
	b := make([]byte, tableHeader+int(n)*slotSize)
	copy(b, tableMagic)
	binary.LittleEndian.PutUint32(b[24:], n)
	binary.LittleEndian.PutUint32(b[28:], uint32(len(entries)))
	var empty tableKey
	for _, e := range entries {
		i := e.key.home(n)
		for !bytes.Equal(b[tableHeader+int(i)*slotSize:][:len(empty)], empty[:]) {
			i = (i + 1) & (n - 1)
		}
		copy(b[tableHeader+int(i)*slotSize:], encodeSlot(e))
	}
	return b
}

// indexTable is the open table file of one lock hold.
type indexTable struct {
	f            *os.File
	slots, count uint32
}

// openTable opens the table at path; with create, a missing one is
// created empty, else a missing one is (nil, nil).
func openTable(path string, create bool) (*indexTable, error) {
	f, err := os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := overwriteFile(path, buildTable(nil), true); err != nil {
			return nil, err
		}
		f, err = os.OpenFile(path, os.O_RDWR|syscall.O_NOFOLLOW, 0)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	t := &indexTable{f: f}
	if err := t.readHeader(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return t, nil
}

func (t *indexTable) readHeader() error {
	h := make([]byte, tableHeader)
	if _, err := t.f.ReadAt(h, 0); err != nil {
		return fmt.Errorf("%w: header: %v", errBadTable, err)
	}
	t.slots, t.count = binary.LittleEndian.Uint32(h[24:]), binary.LittleEndian.Uint32(h[28:])
	st, err := t.f.Stat()
	if err != nil {
		return err
	}
	size := int64(tableHeader) + int64(t.slots)*slotSize
	if string(h[:len(tableMagic)]) != tableMagic || t.slots < minSlots || t.slots&(t.slots-1) != 0 || st.Size() != size || t.count >= t.slots {
		return errBadTable
	}
	return nil
}

func (t *indexTable) close() error { return t.f.Close() }

func (t *indexTable) readSlot(i uint32) (tableEntry, bool, error) {
	b := make([]byte, slotSize)
	if _, err := t.f.ReadAt(b, tableHeader+int64(i)*slotSize); err != nil {
		return tableEntry{}, false, err
	}
	return decodeSlot(b)
}

func (t *indexTable) writeSlot(i uint32, b []byte) error {
	_, err := t.f.WriteAt(b, tableHeader+int64(i)*slotSize)
	return err
}

func (t *indexTable) writeCount(n uint32) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], n)
	if _, err := t.f.WriteAt(b[:], 28); err != nil {
		return err
	}
	t.count = n
	return nil
}

// find returns the slot of k, or the empty slot that ends its probe.
func (t *indexTable) find(k tableKey) (i uint32, e tableEntry, found bool, err error) {
	i = k.home(t.slots)
	for n := uint32(0); n < t.slots; n++ {
		e, used, err := t.readSlot(i)
		if err != nil || !used || e.key == k {
			return i, e, used && err == nil, err
		}
		i = (i + 1) & (t.slots - 1)
	}
	return 0, tableEntry{}, false, fmt.Errorf("%w: no empty slot", errBadTable)
}

// get returns k's entry; found is false when there is none.
func (t *indexTable) get(k tableKey) (tableEntry, bool, error) {
	_, e, found, err := t.find(k)
	return e, found, err
}

// put adds or replaces e, growing the table first when it would be more
// than half full.
func (t *indexTable) put(e tableEntry) error {
	i, _, found, err := t.find(e.key)
	if err != nil {
		return err
	}
	if found {
		return t.writeSlot(i, encodeSlot(e))
	}
	if 2*(t.count+1) > t.slots {
		return t.grow(e)
	}
	if err := t.writeSlot(i, encodeSlot(e)); err != nil {
		return err
	}
	return t.writeCount(t.count + 1)
}

// grow rewrites the table, in place, at twice the size, with e added.
func (t *indexTable) grow(e tableEntry) error {
	all, err := t.entries()
	if err != nil {
		return err
	}
	b := buildTable(append(all, e))
	if _, err := t.f.WriteAt(b, 0); err != nil {
		return err
	}
	if err := t.f.Truncate(int64(len(b))); err != nil {
		return err
	}
	return t.readHeader()
}

// entries returns every used slot.
func (t *indexTable) entries() ([]tableEntry, error) {
	b := make([]byte, int(t.slots)*slotSize)
	if _, err := t.f.ReadAt(b, tableHeader); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var out []tableEntry
	for i := 0; i < int(t.slots); i++ {
		e, used, err := decodeSlot(b[i*slotSize : (i+1)*slotSize])
		if err != nil {
			return nil, err
		}
		if used {
			out = append(out, e)
		}
	}
	return out, nil
}

// remove deletes k's entry, if any, moving later entries of the same probe
// run back so that no lookup stops early (no tombstones).
func (t *indexTable) remove(k tableKey) error {
	i, _, found, err := t.find(k)
	if err != nil || !found {
		return err
	}
	mask := t.slots - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e, used, err := t.readSlot(j)
		if err != nil {
			return err
		}
		if !used {
			break
		}
		h := e.key.home(t.slots)
		// e stays if its home lies cyclically in (i, j].
		if (i < j && i < h && h <= j) || (i > j && (i < h || h <= j)) {
			continue
		}
		if err := t.writeSlot(i, encodeSlot(e)); err != nil {
			return err
		}
		i = j
	}
	if err := t.writeSlot(i, make([]byte, slotSize)); err != nil {
		return err
	}
	return t.writeCount(t.count - 1)
}
