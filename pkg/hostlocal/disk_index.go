package hostlocal

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// table returns the index table of this lock hold, opened on first use;
// with create, a missing one is created. (nil, nil): there is none.
func (s *DiskStore) table(create bool) (*indexTable, error) {
	if s.tbl != nil {
		return s.tbl, nil
	}
	t, err := openTable(s.tablePath(), create)
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w", s.tablePath(), err)
	}
	s.tbl = t
	return t, nil
}

func (s *DiskStore) tablePath() string { return filepath.Join(s.meta, tableName) }

// closeTable closes the table handle of this hold, if any.
func (s *DiskStore) closeTable() error {
	if s.tbl == nil {
		return nil
	}
	err := s.tbl.close()
	s.tbl = nil
	return err
}

// indexGet returns the IPs a's index entry lists; no entry is none. An
// attachment with more addresses than a slot holds is found by a scan. A
// damaged table counts as no entry, and the next Lock rebuilds it.
func (s *DiskStore) indexGet(a Attachment) ([]net.IP, error) {
	t, err := s.table(false)
	if err != nil || t == nil {
		if errors.Is(err, errBadTable) {
			s.log.Info("ignoring damaged index; it will be rebuilt", "file", s.tablePath(), "error", err)
			s.distrust()
			return nil, nil
		}
		return nil, err
	}
	e, found, err := t.get(keyOf(a))
	if errors.Is(err, errBadTable) {
		s.log.Info("ignoring damaged index; it will be rebuilt", "file", s.tablePath(), "error", err)
		s.distrust()
		return nil, nil
	}
	if err != nil || !found {
		return nil, err
	}
	if e.overflow {
		return s.scanFor(a)
	}
	return e.ips, nil
}

// scanFor returns the addresses a's reservation files name, by a scan.
func (s *DiskStore) scanFor(a Attachment) ([]net.IP, error) {
	all, err := s.scan()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, r := range all {
		if r.Attachment == a {
			ips = append(ips, r.IP)
		}
	}
	return ips, nil
}

func (s *DiskStore) indexPut(a Attachment, ips []net.IP) error {
	if len(ips) == 0 {
		return s.indexDelete(a)
	}
	t, err := s.table(true)
	if err != nil {
		return err
	}
	return t.put(tableEntry{key: keyOf(a), ips: ips})
}

func (s *DiskStore) indexAdd(a Attachment, addr net.IP) error {
	ips, err := s.indexGet(a)
	if err != nil {
		return err
	}
	return s.indexPut(a, append(ips, addr))
}

func (s *DiskStore) indexRemove(a Attachment, addr net.IP) error {
	ips, err := s.indexGet(a)
	if err != nil {
		return err
	}
	kept := ips[:0]
	for _, x := range ips {
		if !x.Equal(addr) {
			kept = append(kept, x)
		}
	}
	if len(kept) == len(ips) {
		return nil
	}
	return s.indexPut(a, kept)
}

// indexDelete removes a's entry; the table file goes with its last entry.
func (s *DiskStore) indexDelete(a Attachment) error {
	t, err := s.table(false)
	if err != nil || t == nil {
		return err
	}
	if err := t.remove(keyOf(a)); err != nil {
		return err
	}
	if t.count > 0 {
		return nil
	}
	if err := s.closeTable(); err != nil {
		return err
	}
	if err := os.Remove(s.tablePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// scan reads every reservation file. Torn (empty) files are removed: under
// the lock they can only be left by a writer that died.
func (s *DiskStore) scan() ([]Reservation, error) {
	names, err := readDirNames(s.dir)
	if err != nil {
		return nil, err
	}
	var out []Reservation
	for _, n := range names {
		addr := parseIPName(n)
		if addr == nil {
			continue
		}
		path := filepath.Join(s.dir, n)
		b, err := readSmall(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read reservation %s: %w", path, err)
		}
		a, ok := parseContent(b)
		if !ok {
			s.removeIfTorn(path)
			continue
		}
		out = append(out, Reservation{IP: addr, Attachment: a})
	}
	return out, nil
}

// rebuild makes the index exact again from one scan of the reservation
// files, and removes temp files a crashed writer left behind.
func (s *DiskStore) rebuild() error {
	if err := s.markDirty(); err != nil {
		return err
	}
	all, err := s.scan()
	if err != nil {
		return err
	}
	if err := s.syncIndex(all); err != nil {
		return err
	}
	return s.cleanTemps()
}

// syncIndex rewrites the index to describe exactly the reservations rs,
// in place when the table exists (no inode is created), and removes it
// when rs is empty. It also removes the per-attachment index files an
// earlier version kept in .podnet/index/.
func (s *DiskStore) syncIndex(rs []Reservation) error {
	if err := os.RemoveAll(s.legacyIndex); err != nil {
		return fmt.Errorf("remove the old index directory: %w", err)
	}
	if err := s.closeTable(); err != nil {
		return err
	}
	byAtt := map[Attachment][]net.IP{}
	var order []Attachment
	for _, r := range rs {
		if _, ok := byAtt[r.Attachment]; !ok {
			order = append(order, r.Attachment)
		}
		byAtt[r.Attachment] = append(byAtt[r.Attachment], r.IP)
	}
	if len(order) == 0 {
		if err := os.Remove(s.tablePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove index: %w", err)
		}
		return nil
	}
	entries := make([]tableEntry, 0, len(order))
	for _, a := range order {
		entries = append(entries, tableEntry{key: keyOf(a), ips: byAtt[a]})
	}
	if err := overwriteFile(s.tablePath(), buildTable(entries), true); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// cleanTemps removes every file in .podnet/tmp. Only a lock holder creates
// them, so under the lock any left are from a process that died.
func (s *DiskStore) cleanTemps() error {
	names, err := readDirNames(s.tmp)
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(s.tmp, n)); err != nil {
			return fmt.Errorf("remove leftover temp file: %w", err)
		}
	}
	if len(names) > 0 {
		s.log.Info("removed leftover temp files", "count", len(names))
	}
	return nil
}

// Sweep is part of Store. It scans every reservation (so it also finds
// those the reference wrote), removes the rejected ones, and leaves the
// index exact.
func (s *DiskStore) Sweep(keep func(Attachment) bool) ([]Reservation, error) {
	if err := s.markDirty(); err != nil {
		return nil, err
	}
	all, err := s.scan()
	if err != nil {
		s.distrust()
		return nil, err
	}
	var removed, kept []Reservation
	var errs []error
	for _, r := range all {
		if keep(r.Attachment) {
			kept = append(kept, r)
			continue
		}
		if err := os.Remove(s.ipPath(r.IP)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("release %s of %q: %w", r.IP, r.content(), err))
			kept = append(kept, r)
			continue
		}
		removed = append(removed, r)
	}
	if err := s.syncIndex(kept); err != nil {
		s.distrust()
		errs = append(errs, fmt.Errorf("rewrite index: %w", err))
	}
	if err := s.cleanTemps(); err != nil {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}
