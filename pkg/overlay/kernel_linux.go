package overlay

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/safchain/ethtool"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// txChecksumFeature is the ethtool feature the checksum-offload workaround
// turns off (`ethtool -K <dev> tx-checksum-ip-generic off`).
const txChecksumFeature = "tx-checksum-ip-generic"

// NetlinkKernel is the Kernel of the current network namespace, through
// netlink and the SIOCETHTOOL ioctl. Create one per namespace and use it
// from one goroutine.
type NetlinkKernel struct {
	// names caches ifindex -> name for route devices within one Read.
	names map[int]string
}

// NewNetlinkKernel returns the Kernel of the current network namespace.
func NewNetlinkKernel() *NetlinkKernel { return &NetlinkKernel{} }

// Read is part of Kernel.
func (k *NetlinkKernel) Read(dev string, network netip.Prefix) (*State, error) {
	k.names = map[int]string{}
	s := NewState()
	link, err := netlinksafe.LinkByName(dev)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		link = nil // no device: only routes can be left over
	case err != nil:
		return nil, fmt.Errorf("read link %q: %w", dev, err)
	default:
		k.names[link.Attrs().Index] = dev
		s.Device = k.readDevice(link)
		if err := readDeviceEntries(s, link, network); err != nil {
			return nil, err
		}
	}
	return s, k.readRoutes(s, link, network)
}

// readDevice converts a link into a Device.
func (k *NetlinkKernel) readDevice(link netlink.Link) *Device {
	a := link.Attrs()
	d := &Device{Name: a.Name, Kind: link.Type(), MAC: a.HardwareAddr.String(), MTU: a.MTU, Up: a.Flags&net.FlagUp != 0}
	if vx, ok := link.(*netlink.Vxlan); ok {
		d.VNI, d.Port, d.Learning = uint32(vx.VxlanId), uint16(vx.Port), vx.Learning
		d.Local, _ = netip.AddrFromSlice(vx.SrcAddr)
		d.Local = d.Local.Unmap()
		if vx.VtepDevIndex != 0 {
			name, err := k.linkName(vx.VtepDevIndex)
			if err != nil {
				// The underlay was deleted (and maybe recreated under a
				// new index): the device must be recreated on the new one.
				name = fmt.Sprintf("ifindex %d (gone)", vx.VtepDevIndex)
			}
			d.Underlay = name
		}
	}
	d.TxChecksum = readTxChecksum(a.Name)
	return d
}

// readTxChecksum returns the tx-checksum-ip-generic feature, nil when it
// cannot be read.
func readTxChecksum(dev string) *bool {
	e, err := ethtool.NewEthtool()
	if err != nil {
		return nil
	}
	defer e.Close()
	features, err := e.Features(dev)
	if err != nil {
		return nil
	}
	on, ok := features[txChecksumFeature]
	if !ok {
		return nil
	}
	return &on
}

// readDeviceEntries reads the device's addresses, neighbors and FDB.
func readDeviceEntries(s *State, link netlink.Link, network netip.Prefix) error {
	family := familyOf(network)
	addrs, err := netlinksafe.AddrList(link, family)
	if err != nil {
		return fmt.Errorf("list addresses of %q: %w", link.Attrs().Name, err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && network.Contains(p.Addr()) {
			s.Addrs = append(s.Addrs, p)
		}
	}
	neighs, err := neighList(link.Attrs().Index, family)
	if err != nil {
		return fmt.Errorf("list neighbors of %q: %w", link.Attrs().Name, err)
	}
	for _, n := range neighs {
		ip, ok := addrOf(n.IP)
		if ok && n.State&netlink.NUD_PERMANENT != 0 && network.Contains(ip) {
			s.Neighs[ip] = Neigh{IP: ip, MAC: n.HardwareAddr.String()}
		}
	}
	fdb, err := neighList(link.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return fmt.Errorf("list fdb of %q: %w", link.Attrs().Name, err)
	}
	for _, n := range fdb {
		dst, ok := addrOf(n.IP)
		if ok && n.State&netlink.NUD_PERMANENT != 0 && n.Flags&netlink.NTF_SELF != 0 {
			s.FDB[n.HardwareAddr.String()] = FDB{MAC: n.HardwareAddr.String(), Dst: dst}
		}
	}
	return nil
}

// readRoutes reads the main-table routes inside network that go through
// link or carry RouteProtocol.
func (k *NetlinkKernel) readRoutes(s *State, link netlink.Link, network netip.Prefix) error {
	routes, err := netlinksafe.RouteListFiltered(familyOf(network), &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		dst, ok := prefixOf(r.Dst)
		if !ok || dst.Bits() < network.Bits() || !network.Contains(dst.Addr()) {
			continue
		}
		ours := r.Protocol == RouteProtocol || (link != nil && r.LinkIndex == link.Attrs().Index)
		if !ours || r.Gw == nil {
			continue
		}
		dev, err := k.linkName(r.LinkIndex)
		if err != nil {
			return err
		}
		via, _ := addrOf(r.Gw)
		s.Routes[dst] = Route{Dst: dst, Via: via, Dev: dev, Onlink: r.Flags&int(netlink.FLAG_ONLINK) != 0}
	}
	return nil
}

// linkName returns the name of the link with index idx.
func (k *NetlinkKernel) linkName(idx int) (string, error) {
	if name, ok := k.names[idx]; ok {
		return name, nil
	}
	l, err := netlink.LinkByIndex(idx)
	if err != nil {
		return "", fmt.Errorf("find link %d: %w", idx, err)
	}
	if k.names == nil {
		k.names = map[int]string{}
	}
	k.names[idx] = l.Attrs().Name
	return l.Attrs().Name, nil
}

// neighList is netlink.NeighList retried while the dump is interrupted by
// a concurrent change, as netlinksafe does for the dumps it wraps.
func neighList(linkIndex, family int) ([]netlink.Neigh, error) {
	var (
		list []netlink.Neigh
		err  error
	)
	for range 5 {
		list, err = netlink.NeighList(linkIndex, family)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return list, err
		}
	}
	return list, err
}

func familyOf(p netip.Prefix) int {
	if p.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

func addrOf(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := addrOf(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a, bits), true
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
