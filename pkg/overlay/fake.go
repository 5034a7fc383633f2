package overlay

import (
	"fmt"
	"net/netip"
	"strings"
)

// FakeKernel is a Kernel that keeps one node's overlay state in memory, for
// tests without root. It applies ops the way the kernel would (deleting a
// device drops everything on it) and records them.
type FakeKernel struct {
	// UL is what Underlay returns; UnderlayErr, when set, is returned
	// instead.
	UL          Underlay
	UnderlayErr error
	// S is the kernel state. Routes whose Dev is not the overlay device are
	// underlay routes.
	S *State
	// Applied records every op applied successfully, in order.
	Applied []Op
	// FailOn makes Apply fail for the first op whose String contains it.
	FailOn string
	// Reads counts Read calls.
	Reads int
}

// NewFakeKernel returns a FakeKernel with no overlay device on an underlay.
func NewFakeKernel(ul Underlay) *FakeKernel {
	return &FakeKernel{UL: ul, S: NewState()}
}

// Underlay is part of Kernel.
func (f *FakeKernel) Underlay(vtepIP netip.Addr, vtepDevice string) (Underlay, error) {
	if f.UnderlayErr != nil {
		return Underlay{}, f.UnderlayErr
	}
	if vtepIP.IsValid() && vtepIP != f.UL.VTEPIP {
		return Underlay{}, fmt.Errorf("vtepIP %s: not an address of any interface on this node", vtepIP)
	}
	return f.UL, nil
}

// Read is part of Kernel. It returns a deep copy.
func (f *FakeKernel) Read(dev string, network netip.Prefix) (*State, error) {
	f.Reads++
	s := NewState()
	if f.S.Device != nil && f.S.Device.Name == dev {
		d := *f.S.Device
		s.Device = &d
		s.Addrs = append(s.Addrs, f.S.Addrs...)
		for k, v := range f.S.Neighs {
			s.Neighs[k] = v
		}
		for k, v := range f.S.FDB {
			s.FDB[k] = v
		}
	}
	for k, v := range f.S.Routes {
		if network.Contains(k.Addr()) {
			s.Routes[k] = v
		}
	}
	return s, nil
}

// Apply is part of Kernel.
func (f *FakeKernel) Apply(op Op) error {
	if f.FailOn != "" && strings.Contains(op.String(), f.FailOn) {
		return fmt.Errorf("%s: injected failure", op)
	}
	if err := f.apply(op); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	f.Applied = append(f.Applied, op)
	return nil
}

func (f *FakeKernel) apply(op Op) error {
	s := f.S
	if op.Kind != LinkAdd && op.Kind != RouteReplace && op.Kind != RouteDel && op.Kind != LinkDel &&
		(s.Device == nil || s.Device.Name != op.Dev) {
		return fmt.Errorf("no such device %q", op.Dev)
	}
	switch op.Kind {
	case LinkAdd:
		if s.Device != nil {
			return fmt.Errorf("file exists")
		}
		d := *op.Device
		on := true
		d.Up, d.TxChecksum = false, &on
		s.Device = &d
	case LinkDel:
		if s.Device != nil && s.Device.Name == op.Dev {
			*s = *without(s, op.Dev)
		}
	case LinkSetMTU:
		s.Device.MTU = op.MTU
	case LinkSetUp, LinkSetDown:
		s.Device.Up = op.Kind == LinkSetUp
	case LinkSetTxChecksum:
		on := op.On
		s.Device.TxChecksum = &on
	default:
		return f.applyEntry(op)
	}
	return nil
}

func (f *FakeKernel) applyEntry(op Op) error {
	s := f.S
	switch op.Kind {
	case AddrAdd:
		s.Addrs = append(s.Addrs, op.Addr)
	case AddrDel:
		var rest []netip.Prefix
		for _, a := range s.Addrs {
			if a != op.Addr {
				rest = append(rest, a)
			}
		}
		s.Addrs = rest
	case NeighReplace:
		s.Neighs[op.Neigh.IP] = op.Neigh
	case NeighDel:
		delete(s.Neighs, op.Neigh.IP)
	case FDBReplace:
		s.FDB[op.FDB.MAC] = op.FDB
	case FDBDel:
		delete(s.FDB, op.FDB.MAC)
	case RouteReplace:
		if op.Route.Dev != f.UL.Device && (s.Device == nil || s.Device.Name != op.Route.Dev) {
			return fmt.Errorf("no such device %q", op.Route.Dev)
		}
		s.Routes[op.Route.Dst] = op.Route
	case RouteDel:
		delete(s.Routes, op.Route.Dst)
	default:
		return fmt.Errorf("unknown op kind %d", op.Kind)
	}
	return nil
}
