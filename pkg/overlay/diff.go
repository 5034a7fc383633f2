package overlay

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Diff returns the ops that turn have into want, in an order that never
// sends traffic into a gap: the device first, then neighbors, FDB entries,
// routes (so the kernel never resolves a gateway it has no neighbor for),
// then stale routes, neighbors and FDB entries. A device that cannot be
// converged in place is deleted and recreated. A want without a Device
// removes the device and the overlay's routes (teardown). Each op carries
// its Reason and its Undo. An empty result means have already is want.
func Diff(want, have *State) []Op {
	ops, have := diffDevice(want.Device, have)
	if want.Device != nil {
		ops = append(ops, diffAddrs(want.Device.Name, want.Addrs, have.Addrs)...)
		if have.Device == nil || !have.Device.Up {
			ops = append(ops, Op{Kind: LinkSetUp, Dev: want.Device.Name, Reason: "device " + want.Device.Name + " down",
				Undo: &Op{Kind: LinkSetDown, Dev: want.Device.Name}})
		}
	}
	dev := ""
	if want.Device != nil {
		dev = want.Device.Name
	}
	ops = append(ops, diffNeighs(dev, want.Neighs, have.Neighs, false)...)
	ops = append(ops, diffFDB(dev, want.FDB, have.FDB, false)...)
	ops = append(ops, diffRoutes(want.Routes, have.Routes, false)...)
	ops = append(ops, diffRoutes(want.Routes, have.Routes, true)...)
	if have.Device != nil {
		ops = append(ops, diffNeighs(dev, want.Neighs, have.Neighs, true)...)
		ops = append(ops, diffFDB(dev, want.FDB, have.FDB, true)...)
	}
	return ops
}

// diffDevice converges the device itself. It returns the ops and the state
// that remains of have afterwards: when the device is (re)created or
// deleted, everything on it is gone, and have.Device is what the kernel
// will have (up or not) after the ops.
func diffDevice(want *Device, have *State) ([]Op, *State) {
	cur := have.Device
	switch {
	case want == nil && cur == nil:
		return nil, have
	case want == nil:
		return []Op{{Kind: LinkDel, Dev: cur.Name, Reason: "device " + cur.Name + " present"}}, without(have, cur.Name)
	case cur == nil:
		return createDevice(want, "device "+want.Name+" missing", nil), without(have, want.Name)
	}
	if why := cur.incompatible(want); why != "" {
		del := Op{Kind: LinkDel, Dev: cur.Name, Reason: "device " + cur.Name + ": " + why + " (recreate)",
			Undo: &Op{Kind: LinkAdd, Dev: cur.Name, Device: cur}}
		return createDevice(want, "device "+want.Name+" recreated", &del), without(have, cur.Name)
	}
	var ops []Op
	if cur.MTU != want.MTU {
		ops = append(ops, Op{Kind: LinkSetMTU, Dev: want.Name, MTU: want.MTU,
			Reason: fmt.Sprintf("device %s: mtu %d, want %d", want.Name, cur.MTU, want.MTU),
			Undo:   &Op{Kind: LinkSetMTU, Dev: want.Name, MTU: cur.MTU}})
	}
	ops = append(ops, txChecksumOp(want, cur.TxChecksum)...)
	return ops, have
}

// createDevice adds the device (after del, when recreating) and sets its
// checksum offload; a new device starts with the kernel default, on.
func createDevice(want *Device, reason string, del *Op) []Op {
	var ops []Op
	if del != nil {
		ops = append(ops, *del)
	}
	ops = append(ops, Op{Kind: LinkAdd, Dev: want.Name, Device: want, Reason: reason,
		Undo: &Op{Kind: LinkDel, Dev: want.Name}})
	on := true
	return append(ops, txChecksumOp(want, &on)...)
}

// txChecksumOp sets tx-checksum-ip-generic when it differs. When it cannot
// be read, turning it off is still attempted (the workaround must not be
// skipped silently), while "on", the kernel default, is left alone.
func txChecksumOp(want *Device, cur *bool) []Op {
	switch {
	case want.TxChecksum == nil:
		return nil
	case cur == nil && *want.TxChecksum:
		return nil
	case cur != nil && *cur == *want.TxChecksum:
		return nil
	}
	op := Op{Kind: LinkSetTxChecksum, Dev: want.Name, On: *want.TxChecksum,
		Reason: fmt.Sprintf("device %s: tx-checksum-ip-generic %s, want %s", want.Name, curOnOff(cur), onOff(*want.TxChecksum))}
	if cur != nil {
		op.Undo = &Op{Kind: LinkSetTxChecksum, Dev: want.Name, On: *cur}
	}
	return []Op{op}
}

func curOnOff(cur *bool) string {
	if cur == nil {
		return "unknown"
	}
	return onOff(*cur)
}

// without returns have minus the device named dev and everything on it.
// Routes on other devices (directRouting) stay.
func without(have *State, dev string) *State {
	rest := NewState()
	for k, r := range have.Routes {
		if r.Dev != dev {
			rest.Routes[k] = r
		}
	}
	return rest
}

func diffAddrs(dev string, want, have []netip.Prefix) []Op {
	var ops []Op
	for _, a := range want {
		if !slices.Contains(have, a) {
			ops = append(ops, Op{Kind: AddrAdd, Dev: dev, Addr: a, Reason: fmt.Sprintf("address %s missing on %s", a, dev),
				Undo: &Op{Kind: AddrDel, Dev: dev, Addr: a}})
		}
	}
	for _, a := range sortedPrefixes(have) {
		if !slices.Contains(want, a) {
			ops = append(ops, Op{Kind: AddrDel, Dev: dev, Addr: a, Reason: fmt.Sprintf("stale address %s on %s", a, dev),
				Undo: &Op{Kind: AddrAdd, Dev: dev, Addr: a}})
		}
	}
	return ops
}

// diffNeighs returns the replace ops (stale false) or the delete ops
// (stale true) for neighbors.
func diffNeighs(dev string, want, have map[netip.Addr]Neigh, stale bool) []Op {
	var ops []Op
	if stale {
		for _, ip := range sortedAddrKeys(have) {
			if _, ok := want[ip]; !ok {
				old := have[ip]
				ops = append(ops, Op{Kind: NeighDel, Dev: dev, Neigh: old, Reason: fmt.Sprintf("stale neighbor %s lladdr %s", ip, old.MAC),
					Undo: &Op{Kind: NeighReplace, Dev: dev, Neigh: old}})
			}
		}
		return ops
	}
	for _, ip := range sortedAddrKeys(want) {
		n := want[ip]
		old, ok := have[ip]
		if ok && old == n {
			continue
		}
		op := Op{Kind: NeighReplace, Dev: dev, Neigh: n, Reason: fmt.Sprintf("neighbor %s missing", ip),
			Undo: &Op{Kind: NeighDel, Dev: dev, Neigh: n}}
		if ok {
			op.Reason = fmt.Sprintf("neighbor %s lladdr %s, want %s", ip, old.MAC, n.MAC)
			op.Undo = &Op{Kind: NeighReplace, Dev: dev, Neigh: old}
		}
		ops = append(ops, op)
	}
	return ops
}

// diffFDB is diffNeighs for FDB entries.
func diffFDB(dev string, want, have map[string]FDB, stale bool) []Op {
	var ops []Op
	if stale {
		for _, mac := range sortedKeys(have) {
			if _, ok := want[mac]; !ok {
				old := have[mac]
				ops = append(ops, Op{Kind: FDBDel, Dev: dev, FDB: old, Reason: fmt.Sprintf("stale fdb %s dst %s", mac, old.Dst),
					Undo: &Op{Kind: FDBReplace, Dev: dev, FDB: old}})
			}
		}
		return ops
	}
	for _, mac := range sortedKeys(want) {
		f := want[mac]
		old, ok := have[mac]
		if ok && old == f {
			continue
		}
		op := Op{Kind: FDBReplace, Dev: dev, FDB: f, Reason: fmt.Sprintf("fdb %s missing", mac),
			Undo: &Op{Kind: FDBDel, Dev: dev, FDB: f}}
		if ok {
			op.Reason = fmt.Sprintf("fdb %s dst %s, want %s", mac, old.Dst, f.Dst)
			op.Undo = &Op{Kind: FDBReplace, Dev: dev, FDB: old}
		}
		ops = append(ops, op)
	}
	return ops
}

// diffRoutes is diffNeighs for routes.
func diffRoutes(want, have map[netip.Prefix]Route, stale bool) []Op {
	var ops []Op
	if stale {
		for _, dst := range sortedPrefixKeys(have) {
			if _, ok := want[dst]; !ok {
				old := have[dst]
				ops = append(ops, Op{Kind: RouteDel, Dev: old.Dev, Route: old, Reason: "stale route " + old.String(),
					Undo: &Op{Kind: RouteReplace, Dev: old.Dev, Route: old}})
			}
		}
		return ops
	}
	for _, dst := range sortedPrefixKeys(want) {
		r := want[dst]
		old, ok := have[dst]
		if ok && old == r {
			continue
		}
		op := Op{Kind: RouteReplace, Dev: r.Dev, Route: r, Reason: fmt.Sprintf("route %s missing", dst),
			Undo: &Op{Kind: RouteDel, Dev: r.Dev, Route: r}}
		if ok {
			op.Reason = fmt.Sprintf("route %s, want %s", old, r)
			op.Undo = &Op{Kind: RouteReplace, Dev: old.Dev, Route: old}
		}
		ops = append(ops, op)
	}
	return ops
}

func sortedAddrKeys[V any](m map[netip.Addr]V) []netip.Addr {
	keys := make([]netip.Addr, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b netip.Addr) int { return a.Compare(b) })
	return keys
}

func sortedPrefixKeys[V any](m map[netip.Prefix]V) []netip.Prefix {
	keys := make([]netip.Prefix, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return sortedPrefixes(keys)
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	out := slices.Clone(ps)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}
