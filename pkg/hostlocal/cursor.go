package hostlocal

import (
	"math/big"
	"net"
)

// cursor walks a range set round-robin, as the reference does: it starts
// right after the last reserved IP (or at the first range's start when that
// is unknown or outside the set), moves to the next range after a range's
// end, wraps around, and stops after visiting every address once.
type cursor struct {
	set   RangeSet
	ri    int
	cur   net.IP
	first net.IP
}

func newCursor(set RangeSet, last net.IP) *cursor {
	c := &cursor{set: set}
	if last == nil || canonicalizeIP(&last) != nil {
		return c
	}
	for i := range set {
		if set[i].Contains(last) {
			c.ri, c.cur = i, last
			break
		}
	}
	return c
}

// next returns the next address and its range; ok is false once the walk
// is back where it started.
func (c *cursor) next() (r *Range, addr net.IP, ok bool) {
	r = &c.set[c.ri]
	switch {
	case c.cur == nil:
		addr = r.RangeStart
	case sameIP(c.cur, r.RangeEnd):
		c.ri = (c.ri + 1) % len(c.set)
		r = &c.set[c.ri]
		addr = r.RangeStart
	default:
		addr = nextIP(c.cur)
	}
	if c.first == nil {
		c.first = addr
	} else if sameIP(addr, c.first) {
		return nil, nil, false
	}
	c.cur = addr
	return r, addr, true
}

// capacity is the number of addresses the allocator may hand out from s.
func (s RangeSet) capacity() *big.Int {
	total := new(big.Int)
	for i := range s {
		r := &s[i]
		size := new(big.Int).Sub(new(big.Int).SetBytes(r.RangeEnd), new(big.Int).SetBytes(r.RangeStart))
		size.Add(size, big.NewInt(1))
		for _, x := range r.excluded() {
			if r.Contains(x) {
				size.Sub(size, big.NewInt(1))
			}
		}
		total.Add(total, size)
	}
	return total
}

// excluded are the addresses of r's subnet never handed out, deduplicated.
func (r *Range) excluded() []net.IP {
	out := []net.IP{r.Subnet.IP}
	if len(r.Subnet.IP) == net.IPv4len {
		out = append(out, broadcast(r.Subnet))
	}
	for _, x := range out {
		if sameIP(x, r.Gateway) {
			return out
		}
	}
	return append(out, r.Gateway)
}

// countIn counts the members of reserved (keys string(ip)) that s could
// have handed out.
func (s RangeSet) countIn(reserved map[string]struct{}) int64 {
	var n int64
	for k := range reserved {
		addr := net.IP(k)
		if r, ok := s.RangeFor(addr); ok && r.Allocatable(addr) {
			n++
		}
	}
	return n
}

// exhausted reports whether every allocatable address of s is reserved,
// with the two counts for the message.
func (s RangeSet) exhausted(reserved map[string]struct{}) (bool, int64, *big.Int) {
	used := s.countIn(reserved)
	capa := s.capacity()
	return capa.Cmp(big.NewInt(used)) <= 0, used, capa
}
