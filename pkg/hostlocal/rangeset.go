package hostlocal

import (
	"fmt"
	"net"
	"strings"
)

// RangeSet is a pool of non-overlapping ranges of one family. ADD takes one
// address from every range set of the network.
type RangeSet []Range

// Canonicalize validates every range of the set, that they share a family,
// and that no two overlap.
func (s *RangeSet) Canonicalize() error {
	if len(*s) == 0 {
		return fmt.Errorf("empty range set")
	}
	for i := range *s {
		if err := (*s)[i].Canonicalize(); err != nil {
			return fmt.Errorf("range %d: %w", i, err)
		}
	}
	fam := len((*s)[0].RangeStart)
	for i := range *s {
		r := &(*s)[i]
		if len(r.RangeStart) != fam {
			return fmt.Errorf("range %d (%s): mixes IPv4 and IPv6 in one range set", i, r.subnetString())
		}
		for j := range (*s)[:i] {
			if r.Overlaps(&(*s)[j]) {
				return fmt.Errorf("range %d (%s) overlaps range %d (%s)", i, r, j, &(*s)[j])
			}
		}
	}
	return nil
}

// IsIPv4 reports whether the (canonical) set holds IPv4 ranges.
func (s RangeSet) IsIPv4() bool { return len(s[0].RangeStart) == net.IPv4len }

// Contains reports whether addr is in one of the set's ranges.
func (s RangeSet) Contains(addr net.IP) bool {
	_, ok := s.RangeFor(addr)
	return ok
}

// RangeFor returns the range holding addr.
func (s RangeSet) RangeFor(addr net.IP) (*Range, bool) {
	for i := range s {
		if s[i].Contains(addr) {
			return &s[i], true
		}
	}
	return nil, false
}

// Overlaps reports whether any range of s overlaps any range of s1.
func (s RangeSet) Overlaps(s1 RangeSet) bool {
	for i := range s {
		for j := range s1 {
			if s[i].Overlaps(&s1[j]) {
				return true
			}
		}
	}
	return false
}

// String renders the set as the reference does: "<start>-<end>,...".
func (s RangeSet) String() string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].String()
	}
	return strings.Join(out, ",")
}
