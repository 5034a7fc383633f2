package overlay

import (
	"net/netip"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Underlay is part of Kernel.
func (k *NetlinkKernel) Underlay(vtepIP netip.Addr, vtepDevice string) (Underlay, error) {
	var (
		link       netlink.Link
		err        error
		familyHint = netlink.FAMILY_V4
	)
	switch {
	case vtepDevice != "":
		link, err = netlinksafe.LinkByName(vtepDevice)
		if err != nil {
			return Underlay{}, cniplugin.ConfigErrorf("vtepDevice %q: %w", vtepDevice, err)
		}
	case vtepIP.IsValid():
		if link, err = linkWithAddr(vtepIP); err != nil {
			return Underlay{}, err
		}
	default:
		if link, vtepIP, familyHint, err = defaultRouteLink(); err != nil {
			return Underlay{}, err
		}
	}
	prefixes, err := globalPrefixes(link)
	if err != nil {
		return Underlay{}, err
	}
	if !vtepIP.IsValid() {
		if vtepIP = firstAddr(prefixes, familyHint); !vtepIP.IsValid() {
			return Underlay{}, cniplugin.ConfigErrorf("vtepDevice %q has no global unicast address; set vtepIP", vtepDevice)
		}
	}
	return Underlay{VTEPIP: vtepIP, Device: link.Attrs().Name, MTU: link.Attrs().MTU, Prefixes: prefixes}, nil
}

// linkWithAddr finds the interface holding ip.
func linkWithAddr(ip netip.Addr) (netlink.Link, error) {
	family := netlink.FAMILY_V4
	if ip.Is6() {
		family = netlink.FAMILY_V6
	}
	addrs, err := netlinksafe.AddrList(nil, family)
	if err != nil {
		return nil, cniplugin.ConfigErrorf("vtepIP %s: list addresses: %w", ip, err)
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p.Addr() == ip {
			l, err := netlink.LinkByIndex(a.LinkIndex)
			if err != nil {
				return nil, cniplugin.ConfigErrorf("vtepIP %s: find its interface %d: %w", ip, a.LinkIndex, err)
			}
			return l, nil
		}
	}
	return nil, cniplugin.ConfigErrorf("vtepIP %s: not an address of any interface on this node", ip)
}

// defaultRouteLink returns the interface of the default route (IPv4, else
// IPv6; lowest metric), its source address if the route has one, and its
// family.
func defaultRouteLink() (netlink.Link, netip.Addr, int, error) {
	for _, family := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		routes, err := netlinksafe.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return nil, netip.Addr{}, 0, cniplugin.ConfigErrorf("vtepIP: list routes to find the default route: %w", err)
		}
		var best *netlink.Route
		for i, r := range routes {
			if p, ok := prefixOf(r.Dst); (ok && p.Bits() != 0) || r.LinkIndex == 0 {
				continue
			}
			if best == nil || r.Priority < best.Priority {
				best = &routes[i]
			}
		}
		if best == nil {
			continue
		}
		link, err := netlink.LinkByIndex(best.LinkIndex)
		if err != nil {
			return nil, netip.Addr{}, 0, cniplugin.ConfigErrorf("vtepIP: find the default route's interface %d: %w", best.LinkIndex, err)
		}
		src, _ := addrOf(best.Src)
		return link, src, family, nil
	}
	return nil, netip.Addr{}, 0, cniplugin.ConfigErrorf("vtepIP: not set, no vtepDevice, and the node has no default route to take it from")
}

// globalPrefixes lists the global unicast addresses of link, IPv4 first.
func globalPrefixes(link netlink.Link) ([]netip.Prefix, error) {
	addrs, err := netlinksafe.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, cniplugin.ConfigErrorf("underlay %q: list addresses: %w", link.Attrs().Name, err)
	}
	var v4, v6 []netip.Prefix
	for _, a := range addrs {
		p, ok := prefixOf(a.IPNet)
		if !ok || !p.Addr().IsGlobalUnicast() {
			continue
		}
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return append(v4, v6...), nil
}

// firstAddr returns the first address of the family, else the first of
// any family, else the invalid Addr.
func firstAddr(ps []netip.Prefix, family int) netip.Addr {
	for _, p := range ps {
		if p.Addr().Is4() == (family == netlink.FAMILY_V4) {
			return p.Addr()
		}
	}
	if len(ps) == 0 {
		return netip.Addr{}
	}
	return ps[0].Addr()
}
