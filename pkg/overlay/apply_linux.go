package overlay

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Apply is part of Kernel. Errors name the op as its iproute2 equivalent:
// `ip route replace 10.1.2.0/24 via 10.1.2.0 dev podnet.1 onlink proto 77:
// network is unreachable`.
func (k *NetlinkKernel) Apply(op Op) error {
	if err := k.apply(op); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (k *NetlinkKernel) apply(op Op) error {
	switch op.Kind {
	case LinkAdd:
		return addLink(op.Device)
	case LinkDel:
		return deleteLink(op.Dev)
	case LinkSetTxChecksum:
		return setTxChecksum(op.Dev, op.On)
	case RouteReplace, RouteDel:
		return applyRoute(op)
	}
	link, err := netlinksafe.LinkByName(op.Dev)
	if err != nil {
		if isDelete(op.Kind) && isNotFound(err) {
			return nil // the device is gone, and everything on it with it
		}
		return err
	}
	return applyOnLink(op, link)
}

// applyOnLink runs the ops that act on an existing link.
func applyOnLink(op Op, link netlink.Link) error {
	idx := link.Attrs().Index
	switch op.Kind {
	case LinkSetMTU:
		return netlink.LinkSetMTU(link, op.MTU)
	case LinkSetUp:
		return netlink.LinkSetUp(link)
	case LinkSetDown:
		return netlink.LinkSetDown(link)
	case AddrAdd:
		return ignore(netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(op.Addr)}), syscall.EEXIST)
	case AddrDel:
		return ignore(netlink.AddrDel(link, &netlink.Addr{IPNet: ipNet(op.Addr)}), syscall.EADDRNOTAVAIL, syscall.ENOENT)
	case NeighReplace:
		return netlink.NeighSet(neighOf(idx, op.Neigh))
	case NeighDel:
		return ignore(netlink.NeighDel(neighOf(idx, op.Neigh)), syscall.ENOENT)
	case FDBReplace:
		return netlink.NeighSet(fdbOf(idx, op.FDB))
	case FDBDel:
		return ignore(netlink.NeighDel(fdbOf(idx, op.FDB)), syscall.ENOENT)
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}

// addLink creates the VXLAN device. Equivalent to: `ip link add $name
// address $mac mtu $mtu type vxlan id $vni local $ip dev $underlay dstport
// $port nolearning`.
func addLink(d *Device) error {
	mac, err := net.ParseMAC(d.MAC)
	if err != nil {
		return err
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: d.Name, MTU: d.MTU, HardwareAddr: mac},
		VxlanId:   int(d.VNI),
		SrcAddr:   d.Local.AsSlice(),
		Learning:  d.Learning,
		Port:      int(d.Port),
	}
	if d.Underlay != "" {
		ul, err := netlinksafe.LinkByName(d.Underlay)
		if err != nil {
			return fmt.Errorf("find underlay: %w", err)
		}
		vx.VtepDevIndex = ul.Attrs().Index
	}
	return netlink.LinkAdd(vx)
}

// deleteLink removes a link; one already gone is fine.
func deleteLink(name string) error {
	link, err := netlinksafe.LinkByName(name)
	if isNotFound(err) {
		return nil // already gone
	}
	if err != nil {
		return err
	}
	return ignore(netlink.LinkDel(link), syscall.ENODEV)
}

// setTxChecksum is `ethtool -K $dev tx-checksum-ip-generic on|off`.
func setTxChecksum(dev string, on bool) error {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return err
	}
	defer e.Close()
	return e.Change(dev, map[string]bool{txChecksumFeature: on})
}

// applyRoute replaces or deletes a route of the main table.
func applyRoute(op Op) error {
	link, err := netlinksafe.LinkByName(op.Route.Dev)
	if err != nil {
		if op.Kind == RouteDel && isNotFound(err) {
			return nil // the device is gone, and its routes with it
		}
		return err
	}
	r := &netlink.Route{
		LinkIndex: link.Attrs().Index,
		Dst:       ipNet(op.Route.Dst),
		Gw:        op.Route.Via.AsSlice(),
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  RouteProtocol,
	}
	if op.Route.Onlink {
		r.Flags = int(netlink.FLAG_ONLINK)
	}
	if op.Kind == RouteDel {
		r.Protocol = 0 // match whatever protocol it carries
		return ignore(netlink.RouteDel(r), syscall.ESRCH)
	}
	return netlink.RouteReplace(r)
}

func neighOf(idx int, n Neigh) *netlink.Neigh {
	mac, _ := net.ParseMAC(n.MAC)
	family := netlink.FAMILY_V4
	if n.IP.Is6() {
		family = netlink.FAMILY_V6
	}
	return &netlink.Neigh{LinkIndex: idx, Family: family, State: netlink.NUD_PERMANENT, Type: unix.RTN_UNICAST,
		IP: n.IP.AsSlice(), HardwareAddr: mac}
}

func fdbOf(idx int, f FDB) *netlink.Neigh {
	mac, _ := net.ParseMAC(f.MAC)
	return &netlink.Neigh{LinkIndex: idx, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
		IP: f.Dst.AsSlice(), HardwareAddr: mac}
}

func isDelete(k OpKind) bool {
	return k == LinkDel || k == AddrDel || k == NeighDel || k == FDBDel || k == RouteDel || k == LinkSetDown
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV)
}

// ignore returns nil when err is one of the errnos that mean "already in
// the wanted state".
func ignore(err error, errnos ...syscall.Errno) error {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}
