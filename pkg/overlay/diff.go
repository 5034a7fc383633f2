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

// entries says how diffEntries turns one kind of entry (neighbors, FDB
// entries, routes) into ops.
type entries[K, V comparable] struct {
	keys         func(map[K]V) []K // sorted
	replace, del func(V) Op        // the op that sets or removes an entry, without Reason or Undo
	stale        func(K, V) string // why an entry is deleted
	missing      func(K) string    // why an absent entry is added
	differs      func(k K, old, want V) string
}

// diffEntries returns the replace ops (stale false) or the delete ops
// (stale true) that turn have into want, each with its Reason and Undo.
func diffEntries[K, V comparable](e entries[K, V], want, have map[K]V, stale bool) []Op {
	var ops []Op
	if stale {
		for _, k := range e.keys(have) {
			if _, ok := want[k]; !ok {
				old := have[k]
				op, undo := e.del(old), e.replace(old)
				op.Reason, op.Undo = e.stale(k, old), &undo
				ops = append(ops, op)
			}
		}
		return ops
	}
	for _, k := range e.keys(want) {
		v := want[k]
		old, ok := have[k]
		if ok && old == v {
			continue
		}
		op, undo := e.replace(v), e.del(v)
		op.Reason = e.missing(k)
		if ok {
			op.Reason, undo = e.differs(k, old, v), e.replace(old)
		}
		op.Undo = &undo
		ops = append(ops, op)
	}
	return ops
}

// diffNeighs is diffEntries for the device's neighbors.
func diffNeighs(dev string, want, have map[netip.Addr]Neigh, stale bool) []Op {
	return diffEntries(entries[netip.Addr, Neigh]{
		keys:    sortedAddrKeys[Neigh],
		replace: func(n Neigh) Op { return Op{Kind: NeighReplace, Dev: dev, Neigh: n} },
		del:     func(n Neigh) Op { return Op{Kind: NeighDel, Dev: dev, Neigh: n} },
		stale: func(ip netip.Addr, old Neigh) string {
			return fmt.Sprintf("stale neighbor %s lladdr %s", ip, old.MAC)
		},
		missing: func(ip netip.Addr) string { return fmt.Sprintf("neighbor %s missing", ip) },
		differs: func(ip netip.Addr, old, n Neigh) string {
			return fmt.Sprintf("neighbor %s lladdr %s, want %s", ip, old.MAC, n.MAC)
		},
	}, want, have, stale)
}

// diffFDB is diffEntries for the device's FDB entries.
func diffFDB(dev string, want, have map[string]FDB, stale bool) []Op {
	return diffEntries(entries[string, FDB]{
		keys:    sortedKeys[FDB],
		replace: func(f FDB) Op { return Op{Kind: FDBReplace, Dev: dev, FDB: f} },
		del:     func(f FDB) Op { return Op{Kind: FDBDel, Dev: dev, FDB: f} },
		stale:   func(mac string, old FDB) string { return fmt.Sprintf("stale fdb %s dst %s", mac, old.Dst) },
		missing: func(mac string) string { return fmt.Sprintf("fdb %s missing", mac) },
		differs: func(mac string, old, f FDB) string { return fmt.Sprintf("fdb %s dst %s, want %s", mac, old.Dst, f.Dst) },
	}, want, have, stale)
}

// diffRoutes is diffEntries for routes; each op acts on the route's own
// device.
func diffRoutes(want, have map[netip.Prefix]Route, stale bool) []Op {
	return diffEntries(entries[netip.Prefix, Route]{
		keys:    sortedPrefixKeys[Route],
		replace: func(r Route) Op { return Op{Kind: RouteReplace, Dev: r.Dev, Route: r} },
		del:     func(r Route) Op { return Op{Kind: RouteDel, Dev: r.Dev, Route: r} },
		stale:   func(_ netip.Prefix, old Route) string { return "stale route " + old.String() },
		missing: func(dst netip.Prefix) string { return fmt.Sprintf("route %s missing", dst) },
		differs: func(_ netip.Prefix, old, r Route) string { return fmt.Sprintf("route %s, want %s", old, r) },
	}, want, have, stale)
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
