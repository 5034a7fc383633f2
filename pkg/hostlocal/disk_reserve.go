package hostlocal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ipPath is the reservation file of addr: <dir>/<ip>, as the reference.
// addr.String() of a canonical IP holds only hex digits, '.' and ':'.
func (s *DiskStore) ipPath(addr net.IP) string { return filepath.Join(s.dir, addr.String()) }

func (s *DiskStore) lastPath(set int) string {
	return filepath.Join(s.dir, lastIPPrefix+strconv.Itoa(set))
}

// Reserve is part of Store. The reservation file is written under a temp
// name, then hard-linked to <dir>/<ip>: the link fails if the IP is taken
// (the reference's O_EXCL), and a process killed at any point leaves
// either no file or a complete one. Nothing is fsynced (the reference
// does not either): an fsync waits for a journal commit of whatever else
// the node wrote, and durability across a power loss buys nothing here,
// since every pod of the node is gone after one. What a power loss can
// leave, an empty reservation file, is reclaimed (removeIfTorn).
func (s *DiskStore) Reserve(a Attachment, addr net.IP, set int) (bool, error) {
	if err := s.markDirty(); err != nil {
		return false, err
	}
	tmp, err := s.tempFor(a)
	if err != nil {
		return false, err
	}
	path := s.ipPath(addr)
	err = s.publish(tmp, path, a)
	if errors.Is(err, fs.ErrExist) && s.removeIfTorn(path) {
		err = s.publish(tmp, path, a)
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reserve %s: %w", addr, err)
	}
	// The cursor only steers round-robin; losing it is harmless, so it is
	// written in place like the reference does (a new file per ADD costs
	// an inode allocation, the dearest step on some filesystems).
	if err := overwriteFile(s.lastPath(set), []byte(addr.String()), true); err != nil {
		s.log.Warn("record last reserved IP", "ip", addr.String(), "error", err)
	}
	if err := s.indexAdd(a, addr); err != nil {
		s.distrust()
		s.log.Warn("update index; it will be rebuilt", "error", err)
	}
	return true, nil
}

// publish makes the reservation visible at path, failing with an error
// wrapping fs.ErrExist when the IP is taken. On a filesystem without hard
// links it falls back to the reference's O_EXCL create and write (a torn
// file is then possible after the process dies, and is reclaimed by
// removeIfTorn).
func (s *DiskStore) publish(tmp, path string, a Attachment) error {
	err := os.Link(tmp, path)
	if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EXDEV) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(a.content())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}

// tempFor returns a temp file holding a's reservation content, created
// once per lock hold and removed by Unlock.
func (s *DiskStore) tempFor(a Attachment) (string, error) {
	if p, ok := s.temps[a]; ok {
		return p, nil
	}
	p, err := createTemp(s.tmp, "r-", []byte(a.content()), false)
	if err != nil {
		return "", fmt.Errorf("write reservation for %s: %w", a.content(), err)
	}
	s.temps[a] = p
	return p, nil
}

// removeIfTorn removes a reservation file that is empty: a reference
// plugin killed between its O_EXCL create and its write leaves one, and it
// would block that IP forever. Safe because we hold the lock every writer
// takes.
func (s *DiskStore) removeIfTorn(path string) bool {
	b, err := readSmall(path)
	if err != nil {
		return false
	}
	if _, ok := parseContent(b); ok {
		return false
	}
	if err := os.Remove(path); err != nil {
		s.log.Warn("remove torn reservation", "path", path, "error", err)
		return false
	}
	s.log.Warn("removed torn (empty) reservation file", "path", path)
	return true
}

// readSmall reads a store file without following a symlink, capped at
// 4 KiB: every legitimate file is far smaller.
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 4096))
}

// owner reads the owner of addr's reservation; ok is false when there is
// none (or it is torn).
func (s *DiskStore) owner(addr net.IP) (Attachment, bool) {
	b, err := readSmall(s.ipPath(addr))
	if err != nil {
		return Attachment{}, false
	}
	return parseContent(b)
}

// LastReserved is part of Store.
func (s *DiskStore) LastReserved(set int) (net.IP, error) {
	b, err := readSmall(s.lastPath(set))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read last reserved IP: %w", err)
	}
	addr := net.ParseIP(strings.TrimSpace(string(b)))
	if addr == nil {
		s.log.Info("ignoring unreadable last reserved IP", "file", s.lastPath(set), "content", string(b))
		return nil, nil
	}
	return addr, nil
}

// Lookup is part of Store. It reads a's index entry and keeps the
// addresses whose reservation file still names a.
func (s *DiskStore) Lookup(a Attachment) ([]net.IP, error) {
	ips, err := s.indexGet(a)
	if err != nil {
		return nil, err
	}
	var held []net.IP
	for _, addr := range ips {
		if o, ok := s.owner(addr); ok && o == a {
			held = append(held, addr)
			continue
		}
		s.log.Info("index entry out of date; it will be rebuilt", "ip", addr.String(), "attachment", a.content())
		s.distrust()
	}
	return held, nil
}

// ReleaseIP is part of Store.
func (s *DiskStore) ReleaseIP(a Attachment, addr net.IP) error {
	if err := s.markDirty(); err != nil {
		return err
	}
	if err := s.removeOwned(a, addr); err != nil {
		return err
	}
	if err := s.indexRemove(a, addr); err != nil {
		s.distrust()
		s.log.Warn("update index; it will be rebuilt", "error", err)
	}
	return nil
}

// removeOwned removes addr's reservation file if a owns it. Absent is
// success: the reservation is already gone.
func (s *DiskStore) removeOwned(a Attachment, addr net.IP) error {
	if o, ok := s.owner(addr); !ok || o != a {
		return nil
	}
	if err := os.Remove(s.ipPath(addr)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("release %s: %w", addr, err)
	}
	return nil
}

// Release is part of Store.
func (s *DiskStore) Release(a Attachment) ([]net.IP, error) {
	if err := s.markDirty(); err != nil {
		return nil, err
	}
	released, err := s.releaseAll(a)
	if err != nil || len(released) > 0 || a.IfName == "" {
		return released, err
	}
	return s.releaseAll(a.legacy())
}

func (s *DiskStore) releaseAll(a Attachment) ([]net.IP, error) {
	held, err := s.Lookup(a)
	if err != nil {
		return nil, err
	}
	var released []net.IP
	var errs []error
	for _, addr := range held {
		if err := s.removeOwned(a, addr); err != nil {
			errs = append(errs, err)
			continue
		}
		released = append(released, addr)
	}
	if len(errs) > 0 {
		s.distrust()
		return released, errors.Join(errs...)
	}
	if err := s.indexDelete(a); err != nil {
		s.distrust()
		s.log.Warn("remove index entry; it will be rebuilt", "error", err)
	}
	return released, nil
}

// Reserved is part of Store: one directory read, no file contents.
func (s *DiskStore) Reserved() (map[string]struct{}, error) {
	names, err := readDirNames(s.dir)
	if err != nil {
		return nil, err
	}
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		if addr := parseIPName(n); addr != nil {
			set[string(addr)] = struct{}{}
		}
	}
	return set, nil
}

// Probe is part of Store: create, fsync and remove a file in the store.
func (s *DiskStore) Probe() error {
	for _, d := range []string{s.dir, s.meta, s.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create store directory: %w", err)
		}
	}
	p, err := createTemp(s.tmp, "probe-", []byte("probe"), true)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove probe file: %w", err)
	}
	return nil
}

// parseIPName returns the canonical IP a reservation file name stands for,
// or nil for every other file (lock, last_reserved_ip.N, .podnet).
func parseIPName(name string) net.IP {
	addr := net.ParseIP(name)
	if addr == nil || addr.String() != name {
		return nil // not the reference's canonical spelling: not ours
	}
	if v4 := addr.To4(); v4 != nil {
		return v4
	}
	return addr
}

func readDirNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", dir, err)
	}
	return names, nil
}
