package hostlocal

import (
	"errors"
	"fmt"
	"net"
	"sort"
)

// FakeStore is an in-memory Store for tests. It checks the locking
// contract: every method but Lock and Close fails unless the lock is held.
type FakeStore struct {
	// Owners maps string(ip) of reserved addresses to their owner.
	Owners map[string]Attachment
	// Last maps a range set index to its last reserved address.
	Last map[int]net.IP
	// ProbeErr, when set, is returned by Probe.
	ProbeErr error
	// ReserveErr, when set, is returned by Reserve for the address with
	// this string(ip) key.
	ReserveErr map[string]error
	locked     bool
}

var _ Store = (*FakeStore)(nil)

// NewFakeStore returns an empty FakeStore.
func NewFakeStore() *FakeStore {
	return &FakeStore{Owners: map[string]Attachment{}, Last: map[int]net.IP{}, ReserveErr: map[string]error{}}
}

var errNotLocked = errors.New("fake store: used without the lock")

func (f *FakeStore) held() error {
	if !f.locked {
		return errNotLocked
	}
	return nil
}

// Lock is part of Store.
func (f *FakeStore) Lock() error {
	if f.locked {
		return errors.New("fake store: lock taken twice")
	}
	f.locked = true
	return nil
}

// Unlock is part of Store.
func (f *FakeStore) Unlock() error { f.locked = false; return nil }

// Close is part of Store.
func (f *FakeStore) Close() error { return nil }

// Reserve is part of Store.
func (f *FakeStore) Reserve(a Attachment, addr net.IP, set int) (bool, error) {
	if err := f.held(); err != nil {
		return false, err
	}
	k := string(canon(addr))
	if err := f.ReserveErr[k]; err != nil {
		return false, err
	}
	if _, ok := f.Owners[k]; ok {
		return false, nil
	}
	f.Owners[k] = a
	f.Last[set] = canon(addr)
	return true, nil
}

// LastReserved is part of Store.
func (f *FakeStore) LastReserved(set int) (net.IP, error) {
	return f.Last[set], f.held()
}

// Lookup is part of Store.
func (f *FakeStore) Lookup(a Attachment) ([]net.IP, error) {
	if err := f.held(); err != nil {
		return nil, err
	}
	var out []net.IP
	for k, o := range f.Owners {
		if o == a {
			out = append(out, net.IP(k))
		}
	}
	sortIPs(out)
	return out, nil
}

// ReleaseIP is part of Store.
func (f *FakeStore) ReleaseIP(a Attachment, addr net.IP) error {
	if err := f.held(); err != nil {
		return err
	}
	k := string(canon(addr))
	if f.Owners[k] == a {
		delete(f.Owners, k)
	}
	return nil
}

// Release is part of Store.
func (f *FakeStore) Release(a Attachment) ([]net.IP, error) {
	held, err := f.Lookup(a)
	if err != nil {
		return nil, err
	}
	if len(held) == 0 && a.IfName != "" {
		a = a.legacy()
		held, _ = f.Lookup(a)
	}
	for _, x := range held {
		delete(f.Owners, string(x))
	}
	return held, nil
}

// Reserved is part of Store.
func (f *FakeStore) Reserved() (map[string]struct{}, error) {
	out := map[string]struct{}{}
	for k := range f.Owners {
		out[k] = struct{}{}
	}
	return out, f.held()
}

// Sweep is part of Store.
func (f *FakeStore) Sweep(keep func(Attachment) bool) ([]Reservation, error) {
	if err := f.held(); err != nil {
		return nil, err
	}
	var out []Reservation
	for k, o := range f.Owners {
		if !keep(o) {
			out = append(out, Reservation{IP: net.IP(k), Attachment: o})
			delete(f.Owners, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].IP) < string(out[j].IP) })
	return out, nil
}

// Probe is part of Store.
func (f *FakeStore) Probe() error {
	if err := f.held(); err != nil {
		return err
	}
	return f.ProbeErr
}

// Dump renders the reservations as sorted "<ip> <containerID>/<ifname>"
// lines for test assertions.
func (f *FakeStore) Dump() []string {
	var out []string
	for k, o := range f.Owners {
		out = append(out, fmt.Sprintf("%s %s/%s", net.IP(k), o.ContainerID, o.IfName))
	}
	sort.Strings(out)
	return out
}

func canon(addr net.IP) net.IP {
	if v4 := addr.To4(); v4 != nil {
		return v4
	}
	return addr.To16()
}

func sortIPs(ips []net.IP) {
	sort.Slice(ips, func(i, j int) bool { return string(ips[i]) < string(ips[j]) })
}
