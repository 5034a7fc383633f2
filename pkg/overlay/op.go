package overlay

import (
	"fmt"
	"net/netip"
	"strings"
)

// OpKind is what an Op does to which kind of kernel object.
type OpKind int

// The operations Diff produces. Each has an iproute2 (or ethtool)
// equivalent, which Op.String prints.
const (
	LinkAdd OpKind = iota + 1
	LinkDel
	LinkSetMTU
	LinkSetUp
	LinkSetDown
	LinkSetTxChecksum
	AddrAdd
	AddrDel
	NeighReplace
	NeighDel
	FDBReplace
	FDBDel
	RouteReplace
	RouteDel
)

// Op is one kernel write. Which fields matter depends on Kind.
type Op struct {
	Kind OpKind
	// Dev is the device the op acts on (the VXLAN device, or for a route
	// the route's device).
	Dev string
	// Device is the full device for LinkAdd.
	Device *Device
	// MTU for LinkSetMTU; On for LinkSetTxChecksum.
	MTU int
	On  bool
	// Addr for AddrAdd/AddrDel.
	Addr  netip.Prefix
	Neigh Neigh
	FDB   FDB
	Route Route
	// Reason says what differs: "route 10.1.2.0/24 missing". CHECK reports
	// it; ADD logs it.
	Reason string
	// Undo restores what the op changed, for the rollback of a failed
	// ADD; nil when there is nothing to restore.
	Undo *Op
}

// String renders the op as the command that does the same.
func (o Op) String() string {
	switch o.Kind {
	case LinkAdd:
		return linkAddString(o.Device)
	case LinkDel:
		return "ip link del " + o.Dev
	case LinkSetMTU:
		return fmt.Sprintf("ip link set %s mtu %d", o.Dev, o.MTU)
	case LinkSetUp:
		return "ip link set " + o.Dev + " up"
	case LinkSetDown:
		return "ip link set " + o.Dev + " down"
	case LinkSetTxChecksum:
		return fmt.Sprintf("ethtool -K %s tx-checksum-ip-generic %s", o.Dev, onOff(o.On))
	case AddrAdd:
		return fmt.Sprintf("ip addr add %s dev %s", o.Addr, o.Dev)
	case AddrDel:
		return fmt.Sprintf("ip addr del %s dev %s", o.Addr, o.Dev)
	case NeighReplace:
		return fmt.Sprintf("ip neigh replace %s lladdr %s dev %s nud permanent", o.Neigh.IP, o.Neigh.MAC, o.Dev)
	case NeighDel:
		return fmt.Sprintf("ip neigh del %s dev %s", o.Neigh.IP, o.Dev)
	case FDBReplace:
		return fmt.Sprintf("bridge fdb replace %s dev %s dst %s self permanent", o.FDB.MAC, o.Dev, o.FDB.Dst)
	case FDBDel:
		return fmt.Sprintf("bridge fdb del %s dev %s dst %s self", o.FDB.MAC, o.Dev, o.FDB.Dst)
	case RouteReplace:
		return "ip route replace " + o.Route.String() + fmt.Sprintf(" proto %d", RouteProtocol)
	case RouteDel:
		return "ip route del " + o.Route.String()
	}
	return fmt.Sprintf("op(%d)", o.Kind)
}

// String renders the route as `ip route` does, without the protocol.
func (r Route) String() string {
	s := fmt.Sprintf("%s via %s dev %s", r.Dst, r.Via, r.Dev)
	if r.Onlink {
		s += " onlink"
	}
	return s
}

func linkAddString(d *Device) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ip link add %s address %s mtu %d type vxlan id %d local %s dev %s dstport %d",
		d.Name, d.MAC, d.MTU, d.VNI, d.Local, d.Underlay, d.Port)
	if !d.Learning {
		b.WriteString(" nolearning")
	}
	return b.String()
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// Lines renders ops one a line, for goldens and logs.
func Lines(ops []Op) string {
	var b strings.Builder
	for _, o := range ops {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Reasons joins the reasons of ops with "; ", for CHECK errors.
func Reasons(ops []Op) string {
	rs := make([]string, 0, len(ops))
	for _, o := range ops {
		rs = append(rs, o.Reason)
	}
	return strings.Join(rs, "; ")
}
