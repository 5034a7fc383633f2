package netfilter

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
)

// FakeMasquerader is an in-memory Masquerader for the tests of its users
// (bridge, vxlan). It keeps the same contract: subnets accumulate per
// owner, a subnet belongs to one owner, Delete forgets the owner.
type FakeMasquerader struct {
	mu     sync.Mutex
	owners map[string][]netip.Prefix
	// Writes counts the Ensure and Delete calls that changed state, so a
	// test can assert that an ADD of a second pod wrote nothing.
	Writes int
	// Err, when set, is returned by every call.
	Err error
}

// NewFakeMasquerader returns an empty fake.
func NewFakeMasquerader() *FakeMasquerader {
	return &FakeMasquerader{owners: map[string][]netip.Prefix{}}
}

// EnsureMasquerade is part of Masquerader.
func (f *FakeMasquerader) EnsureMasquerade(_ context.Context, owner string, subnets []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if err := validateOwner(owner); err != nil {
		return err
	}
	changed := false
	for _, p := range normSubnets(subnets) {
		for other, ps := range f.owners {
			if other != owner && slices.Contains(ps, p) {
				return fmt.Errorf("subnet %s is already masqueraded by owner %q", p, other)
			}
		}
		if !slices.Contains(f.owners[owner], p) {
			f.owners[owner] = normSubnets(append(f.owners[owner], p))
			changed = true
		}
	}
	if changed {
		f.Writes++
	}
	return nil
}

// CheckMasquerade is part of Masquerader.
func (f *FakeMasquerader) CheckMasquerade(_ context.Context, owner string, subnets []netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	for _, p := range normSubnets(subnets) {
		if !slices.Contains(f.owners[owner], p) {
			return fmt.Errorf("check masquerade of %q: subnet %s is not masqueraded", owner, p)
		}
	}
	return nil
}

// DeleteMasquerade is part of Masquerader.
func (f *FakeMasquerader) DeleteMasquerade(_ context.Context, owner string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Err != nil {
		return f.Err
	}
	if _, ok := f.owners[owner]; ok {
		delete(f.owners, owner)
		f.Writes++
	}
	return nil
}

// Dump renders the state as "owner: subnet subnet" lines, sorted by owner;
// "" when empty.
func (f *FakeMasquerader) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for owner, ps := range f.owners {
		var s []string
		for _, p := range ps {
			s = append(s, p.String())
		}
		lines = append(lines, owner+": "+strings.Join(s, " "))
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		return ""
	}
	return strings.Join(lines, "\n") + "\n"
}
