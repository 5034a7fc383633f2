package hostlocal

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// indexMagic starts every index file. With it an index file can never read
// as a reservation ("<cid>\r\n<ifname>") to the reference, which walks
// subdirectories when it searches by container ID.
const indexMagic = "podnet-index v1"

// indexKey names a's index file: a hash, so no part of a container ID or
// interface name ever becomes a path.
func indexKey(a Attachment) string {
	sum := sha256.Sum256([]byte(a.ContainerID + "\x00" + a.IfName))
	return hex.EncodeToString(sum[:16])
}

// encodeIndex renders an index entry: magic, container ID, ifname, then
// the sorted IPs, one per line.
func encodeIndex(a Attachment, ips []net.IP) []byte {
	lines := make([]string, 0, len(ips))
	for _, addr := range ips {
		lines = append(lines, addr.String())
	}
	sort.Strings(lines)
	return []byte(indexMagic + "\n" + a.ContainerID + "\n" + a.IfName + "\n" + strings.Join(lines, "\n") + "\n")
}

// decodeIndex parses an index file written for a; a file for another
// attachment (a hash collision) or a damaged one yields ok=false.
func decodeIndex(b []byte, a Attachment) (ips []net.IP, ok bool) {
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 3 || lines[0] != indexMagic || lines[1] != a.ContainerID || lines[2] != a.IfName {
		return nil, false
	}
	for _, l := range lines[3:] {
		addr := parseIPName(l)
		if addr == nil {
			return nil, false
		}
		ips = append(ips, addr)
	}
	return ips, true
}

func (s *DiskStore) indexPath(a Attachment) string { return filepath.Join(s.index, indexKey(a)) }

// indexGet returns the IPs a's index entry lists; no entry is none.
func (s *DiskStore) indexGet(a Attachment) ([]net.IP, error) {
	b, err := readSmall(s.indexPath(a))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index for %q: %w", a.content(), err)
	}
	ips, ok := decodeIndex(b, a)
	if !ok {
		s.log.Info("ignoring damaged index entry; it will be rebuilt", "file", s.indexPath(a))
		s.distrust()
	}
	return ips, nil
}

func (s *DiskStore) indexPut(a Attachment, ips []net.IP) error {
	if len(ips) == 0 {
		return s.indexDelete(a)
	}
	return writeFileAtomic(s.tmp, s.indexPath(a), encodeIndex(a, ips), false)
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

func (s *DiskStore) indexDelete(a Attachment) error {
	if err := os.Remove(s.indexPath(a)); err != nil && !errors.Is(err, fs.ErrNotExist) {
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

// syncIndex rewrites the index to describe exactly the reservations rs:
// entries already right are kept, others rewritten, extra ones removed.
func (s *DiskStore) syncIndex(rs []Reservation) error {
	want := map[string][]byte{}
	byAtt := map[Attachment][]net.IP{}
	for _, r := range rs {
		byAtt[r.Attachment] = append(byAtt[r.Attachment], r.IP)
	}
	for a, ips := range byAtt {
		want[indexKey(a)] = encodeIndex(a, ips)
	}
	names, err := readDirNames(s.index)
	if err != nil {
		return err
	}
	for _, n := range names {
		path := filepath.Join(s.index, n)
		if w, ok := want[n]; ok {
			if b, err := readSmall(path); err == nil && bytes.Equal(b, w) {
				delete(want, n)
				continue
			}
		}
		if err := os.RemoveAll(path); err != nil {
			return fmt.Errorf("remove stale index entry: %w", err)
		}
	}
	for n, w := range want {
		if err := writeFileAtomic(s.tmp, filepath.Join(s.index, n), w, false); err != nil {
			return fmt.Errorf("write index entry: %w", err)
		}
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
