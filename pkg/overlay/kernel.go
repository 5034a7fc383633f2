package overlay

import "net/netip"

// Kernel reads and writes the kernel objects of an overlay in the current
// network namespace. NetlinkKernel is the real one; FakeKernel keeps the
// state in memory for tests.
type Kernel interface {
	// Underlay resolves this node's VTEP address and underlay interface:
	// vtepDevice when set, else the interface holding vtepIP, else the
	// default route's interface (IPv4 first); an invalid vtepIP is taken
	// from that interface (the default route's source, else its first
	// global address). Errors are code 7 and name vtepIP or vtepDevice.
	Underlay(vtepIP netip.Addr, vtepDevice string) (Underlay, error)
	// Read returns the current state: the link named dev (nil Device when
	// there is none), its addresses inside network, its permanent
	// neighbors inside network and permanent FDB entries, and the routes
	// of the main table with a destination inside network that go through
	// dev or carry RouteProtocol.
	Read(dev string, network netip.Prefix) (*State, error)
	// Apply performs op. Deleting an object that is already gone, and
	// adding an address that is already there, are not errors.
	Apply(op Op) error
}
