package hostlocal

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
)

// Range is one contiguous pool of addresses inside a subnet. After
// Canonicalize every field is set and every IP has the family's length.
type Range struct {
	// Subnet is the network; it must be the network address (no host bits).
	Subnet types.IPNet `json:"subnet"`
	// RangeStart is the first allocatable IP, inclusive. Default: subnet+1.
	RangeStart net.IP `json:"rangeStart,omitempty"`
	// RangeEnd is the last allocatable IP, inclusive. Default: the
	// broadcast address - 1 for IPv4, the last address for IPv6.
	RangeEnd net.IP `json:"rangeEnd,omitempty"`
	// Gateway is returned with every address and never allocated.
	// Default: subnet+1.
	Gateway net.IP `json:"gateway,omitempty"`
}

// Canonicalize validates r and fills in the defaults, as the reference
// does: the subnet must be the network address and hold at least two
// hosts; rangeStart and rangeEnd must lie inside it. It also refuses a
// rangeStart after rangeEnd and a gateway of the other family.
func (r *Range) Canonicalize() error {
	subnet := net.IPNet(r.Subnet)
	if err := canonicalizeIP(&r.Subnet.IP); err != nil {
		return fmt.Errorf("subnet %q: %w", subnet.String(), err)
	}
	ones, bits := r.Subnet.Mask.Size()
	if len(r.Subnet.IP) != len(r.Subnet.Mask) || bits == 0 {
		return fmt.Errorf("subnet %q: address and mask are of different families", subnet.String())
	}
	if ones > bits-2 {
		return fmt.Errorf("subnet %q: too small to allocate from (a /%d has fewer than 2 host addresses)", subnet.String(), ones)
	}
	network := r.Subnet.IP.Mask(r.Subnet.Mask)
	if !r.Subnet.IP.Equal(network) {
		return fmt.Errorf("subnet %q: network has host bits set; for a /%d the network address is %s", subnet.String(), ones, network)
	}
	if r.Gateway == nil {
		r.Gateway = nextIP(r.Subnet.IP)
	} else if err := r.canonicalizeFamily("gateway", &r.Gateway); err != nil {
		return err
	}
	if r.RangeStart == nil {
		r.RangeStart = nextIP(r.Subnet.IP)
	} else if err := r.canonicalizeMember("rangeStart", &r.RangeStart); err != nil {
		return err
	}
	if r.RangeEnd == nil {
		r.RangeEnd = lastIP(r.Subnet)
	} else if err := r.canonicalizeMember("rangeEnd", &r.RangeEnd); err != nil {
		return err
	}
	if cmpIP(r.RangeStart, r.RangeEnd) > 0 {
		return fmt.Errorf("rangeStart %s is after rangeEnd %s in subnet %s", r.RangeStart, r.RangeEnd, r.subnetString())
	}
	return nil
}

// canonicalizeFamily normalises *addr and requires the subnet's family.
func (r *Range) canonicalizeFamily(field string, addr *net.IP) error {
	orig := addr.String()
	if err := canonicalizeIP(addr); err != nil {
		return fmt.Errorf("%s %q: %w", field, orig, err)
	}
	if len(*addr) != len(r.Subnet.IP) {
		return fmt.Errorf("%s %s: not of the family of subnet %s", field, orig, r.subnetString())
	}
	return nil
}

// canonicalizeMember is canonicalizeFamily plus "inside the subnet".
func (r *Range) canonicalizeMember(field string, addr *net.IP) error {
	if err := r.canonicalizeFamily(field, addr); err != nil {
		return err
	}
	if !(*net.IPNet)(&r.Subnet).Contains(*addr) {
		return fmt.Errorf("%s %s: not in network %s", field, *addr, r.subnetString())
	}
	return nil
}

func (r *Range) subnetString() string { return (*net.IPNet)(&r.Subnet).String() }

// Contains reports whether addr is a member of the range: in the subnet and
// between rangeStart and rangeEnd inclusive. r must be canonical.
func (r *Range) Contains(addr net.IP) bool {
	if err := canonicalizeIP(&addr); err != nil {
		return false
	}
	if len(addr) != len(r.Subnet.IP) || !(*net.IPNet)(&r.Subnet).Contains(addr) {
		return false
	}
	return cmpIP(addr, r.RangeStart) >= 0 && cmpIP(addr, r.RangeEnd) <= 0
}

// Allocatable reports whether the allocator may hand out addr: a member
// that is not the gateway, the network address, or the IPv4 broadcast.
func (r *Range) Allocatable(addr net.IP) bool {
	if !r.Contains(addr) || addr.Equal(r.Gateway) || addr.Equal(r.Subnet.IP) {
		return false
	}
	return !(len(addr) == net.IPv4len && addr.Equal(broadcast(r.Subnet)))
}

// Overlaps reports whether r and r1 share any address. Both must be canonical.
func (r *Range) Overlaps(r1 *Range) bool {
	if len(r.RangeStart) != len(r1.RangeStart) {
		return false
	}
	return r.Contains(r1.RangeStart) || r.Contains(r1.RangeEnd) ||
		r1.Contains(r.RangeStart) || r1.Contains(r.RangeEnd)
}

// String renders the range as "<start>-<end>".
func (r *Range) String() string {
	return r.RangeStart.String() + "-" + r.RangeEnd.String()
}

// canonicalizeIP converts *addr to its 4- or 16-byte form; anything else is
// an error.
func canonicalizeIP(addr *net.IP) error {
	if v4 := addr.To4(); v4 != nil {
		*addr = v4
		return nil
	}
	if v6 := addr.To16(); v6 != nil {
		*addr = v6
		return nil
	}
	return fmt.Errorf("not a valid IP address")
}

// broadcast is the last address of the subnet.
func broadcast(subnet types.IPNet) net.IP {
	end := make(net.IP, len(subnet.IP))
	for i := range subnet.IP {
		end[i] = subnet.IP[i] | ^subnet.Mask[i]
	}
	return end
}

// lastIP is the default rangeEnd: broadcast-1 for IPv4, the last address
// for IPv6 (as the reference).
func lastIP(subnet types.IPNet) net.IP {
	end := broadcast(subnet)
	if len(end) == net.IPv4len {
		return prevIP(end)
	}
	return end
}

// sameIP compares two canonical IPs cheaply.
func sameIP(a, b net.IP) bool { return a.Equal(b) }
