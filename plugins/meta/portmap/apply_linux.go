package main

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/netfilter"
)

// routeIface returns the node interface that routes to ip (the bridge, for
// a bridge network).
// Equivalent to: `ip route get $ip`.
func routeIface(ip netip.Addr) (string, error) {
	routes, err := netlink.RouteGet(ip.AsSlice())
	if err != nil {
		return "", fmt.Errorf("route get %s: %w", ip, err)
	}
	if len(routes) == 0 || routes[0].LinkIndex == 0 {
		return "", fmt.Errorf("route get %s: no route through an interface", ip)
	}
	link, err := netlink.LinkByIndex(routes[0].LinkIndex)
	if err != nil {
		return "", fmt.Errorf("find interface %d routing to %s: %w", routes[0].LinkIndex, ip, err)
	}
	return link.Attrs().Name, nil
}

// flushUDPConntrack deletes the conntrack entries of the UDP host ports of
// ms, so that a client that keeps sending to a port does not stay pinned
// to a dead pod (or to the node) by an old entry. One table walk per
// family.
// Equivalent to: `conntrack -D -p udp --orig-port-dst $port` per port.
func flushUDPConntrack(ms []netfilter.HostPort) error {
	filters := map[netlink.InetFamily][]netlink.CustomConntrackFilter{}
	seen := map[string]bool{}
	for _, m := range ms {
		fam := netlink.InetFamily(unix.AF_INET)
		if m.IsIPv6() {
			fam = unix.AF_INET6
		}
		key := fmt.Sprintf("%d/%d", fam, m.HostPort)
		if m.Protocol != "udp" || seen[key] {
			continue
		}
		seen[key] = true
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
			return fmt.Errorf("build conntrack filter for udp port %d: %w", m.HostPort, err)
		}
		if err := f.AddPort(netlink.ConntrackOrigDstPort, m.HostPort); err != nil {
			return fmt.Errorf("build conntrack filter for udp port %d: %w", m.HostPort, err)
		}
		filters[fam] = append(filters[fam], f)
	}
	if len(filters) == 0 {
		return nil
	}
	// Not closed: the process exits right after. Closing a netfilter
	// netlink socket right after a DEL's nftables commit would wait for the
	// kernel to free the deleted elements; at exit that wait overlaps with
	// this table walk instead of following it.
	h, err := netlink.NewHandle(unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("open conntrack netlink socket: %w", err)
	}
	for fam, fs := range filters {
		if _, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, fam, fs...); err != nil {
			return fmt.Errorf("delete udp conntrack entries of host ports (family %d): %w", fam, err)
		}
	}
	return nil
}
