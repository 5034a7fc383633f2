package overlay

import (
	"fmt"
	"net/netip"
)

// Device is a VXLAN device as the overlay wants it or as the kernel has it.
type Device struct {
	Name string
	// Kind is the link type ("vxlan"); a link of another kind with the
	// device's name is replaced.
	Kind string
	VNI  uint32
	Port uint16
	// Local is the VTEP (source) address.
	Local netip.Addr
	// Underlay is the name of the device VXLAN packets leave through
	// (`dev` of `ip link add ... type vxlan`).
	Underlay string
	// MAC is the device's address, lower case, colon separated.
	MAC      string
	MTU      int
	Up       bool
	Learning bool
	// TxChecksum is the tx-checksum-ip-generic feature; nil when it could
	// not be read.
	TxChecksum *bool
}

// incompatible returns why an existing device cannot be kept and must be
// recreated ("vni: 1 vs 2"), or "" when the settings that only a new device
// can change all match. MTU, addresses, up and checksum offload are changed
// in place, not here.
func (d *Device) incompatible(want *Device) string {
	switch {
	case d.Kind != want.Kind:
		return fmt.Sprintf("kind: %s vs %s", d.Kind, want.Kind)
	case d.VNI != want.VNI:
		return fmt.Sprintf("vni: %d vs %d", d.VNI, want.VNI)
	case d.Port != want.Port:
		return fmt.Sprintf("port: %d vs %d", d.Port, want.Port)
	case d.Local != want.Local:
		return fmt.Sprintf("local: %s vs %s", d.Local, want.Local)
	case d.Underlay != want.Underlay:
		return fmt.Sprintf("underlay: %q vs %q", d.Underlay, want.Underlay)
	case d.MAC != want.MAC:
		return fmt.Sprintf("mac: %s vs %s", d.MAC, want.MAC)
	case d.Learning != want.Learning:
		return fmt.Sprintf("learning: %t vs %t", d.Learning, want.Learning)
	}
	return ""
}

// Neigh is a permanent neighbor (ARP/NDP) entry on the VXLAN device.
type Neigh struct {
	IP  netip.Addr
	MAC string
}

// FDB is a permanent forwarding entry on the VXLAN device: frames for MAC
// are sent to the VTEP at Dst.
type FDB struct {
	MAC string
	Dst netip.Addr
}

// Route is a route of the main table for a peer subnet: through the VXLAN
// device (Via the subnet's first address, onlink), or with directRouting
// through the underlay device (Via the peer's vtepIP).
type Route struct {
	Dst    netip.Prefix
	Via    netip.Addr
	Dev    string
	Onlink bool
}

// State is the overlay's kernel state on one node: wanted (Desired) or
// read (Kernel.Read). Neighbors, FDB entries and routes are keyed by IP,
// MAC and destination.
type State struct {
	// Device is nil when there is no link of that name.
	Device *Device
	// Addrs are the device's addresses inside the cluster network.
	Addrs  []netip.Prefix
	Neighs map[netip.Addr]Neigh
	FDB    map[string]FDB
	Routes map[netip.Prefix]Route
}

// NewState returns an empty State.
func NewState() *State {
	return &State{Neighs: map[netip.Addr]Neigh{}, FDB: map[string]FDB{}, Routes: map[netip.Prefix]Route{}}
}

// Underlay is the node's side of the underlay network, resolved from
// vtepIP and vtepDevice.
type Underlay struct {
	// VTEPIP is this node's VTEP address.
	VTEPIP netip.Addr
	// Device is the underlay interface's name.
	Device string
	// MTU is the underlay interface's MTU.
	MTU int
	// Prefixes are the underlay interface's addresses with their prefix
	// length: a peer inside one of them is on the same L2 (directRouting).
	Prefixes []netip.Prefix
}

// Overhead is the VXLAN encapsulation overhead on this underlay.
func (u Underlay) Overhead() int {
	if u.VTEPIP.Is4() {
		return OverheadV4
	}
	return OverheadV6
}

// direct reports whether peer is reachable without encapsulation: on the
// underlay's own subnet and of the overlay's family.
func (u Underlay) direct(peer netip.Addr, network netip.Prefix) bool {
	if peer.Is4() != network.Addr().Is4() {
		return false
	}
	for _, p := range u.Prefixes {
		if p.Contains(peer) {
			return true
		}
	}
	return false
}
