package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// checkAttachment performs CHECK against the cached ADD result: IPAM (in
// L3 mode only: L2 has none), the bridge, the veth pair and its master,
// the pod's addresses and routes, the gateway addresses, and the
// masquerade rules when ipMasq.
func checkAttachment(ctx context.Context, c *cniplugin.Call, conf *netConf, res *current.Result, d deps) error {
	if err := d.ipam(conf, c).Check(ctx); err != nil {
		return err
	}
	br, err := checkBridge(conf.BrName, res)
	if err != nil {
		return err
	}
	pod, err := cniplugin.OpenNetNS(c.Netns)
	if err != nil {
		return err
	}
	defer pod.Close()
	podIf, err := resultInterface(res, c.IfName, c.Netns)
	if err != nil {
		return err
	}
	peer, err := checkPod(pod, podIf, res)
	if err != nil {
		return err
	}
	if err := checkHostVeth(peer, br, res); err != nil {
		return err
	}
	if conf.MacSpoofChk {
		mac, err := net.ParseMAC(podIf.Mac)
		if err != nil {
			return fmt.Errorf("check: prevResult MAC %q of %q: %w", podIf.Mac, podIf.Name, err)
		}
		key := netfilter.SpoofKey(conf.Name, c.ContainerID, c.IfName)
		if err := d.spoof().CheckSpoofCheck(ctx, key, hostVethName(conf.Name, c.ContainerID, c.IfName), mac); err != nil {
			return err
		}
	}
	if conf.l3() {
		return checkNode(ctx, conf, br, res, d)
	}
	return nil
}

// checkBridge verifies the bridge exists, is a bridge, and has the MAC the
// result reported.
func checkBridge(name string, res *current.Result) (netlink.Link, error) {
	br, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("check bridge %q: %w", name, err)
	}
	if br.Type() != "bridge" {
		return nil, fmt.Errorf("check bridge %q: it is a %s, not a bridge", name, br.Type())
	}
	for _, i := range res.Interfaces {
		if i.Name == name && i.Sandbox == "" && i.Mac != "" && i.Mac != br.Attrs().HardwareAddr.String() {
			return nil, fmt.Errorf("check bridge %q: MAC %s, the result says %s", name, br.Attrs().HardwareAddr, i.Mac)
		}
	}
	return br, nil
}

// resultInterface finds the pod interface in the result.
func resultInterface(res *current.Result, ifName, sandbox string) (*current.Interface, error) {
	for _, i := range res.Interfaces {
		if i.Name == ifName && i.Sandbox == sandbox {
			return i, nil
		}
	}
	return nil, fmt.Errorf("check: prevResult has no interface %q in %q", ifName, sandbox)
}

// checkPod verifies, in the pod, the interface (a veth with the result's
// MAC), its addresses and the routes; it returns the peer's ifindex.
func checkPod(pod ns.NetNS, podIf *current.Interface, res *current.Result) (int, error) {
	peer := 0
	err := pod.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(podIf.Name)
		if err != nil {
			return fmt.Errorf("check %q in the pod: %w", podIf.Name, err)
		}
		if l.Type() != "veth" {
			return fmt.Errorf("check %q in the pod: it is a %s, not a veth", podIf.Name, l.Type())
		}
		if podIf.Mac != "" && l.Attrs().HardwareAddr.String() != podIf.Mac {
			return fmt.Errorf("check %q in the pod: MAC %s, the result says %s", podIf.Name, l.Attrs().HardwareAddr, podIf.Mac)
		}
		peer = l.Attrs().ParentIndex
		if err := checkPodAddrs(l, res.IPs); err != nil {
			return fmt.Errorf("check addresses of %q in the pod: %w", podIf.Name, err)
		}
		if err := checkPodRoutes(res.Routes); err != nil {
			return fmt.Errorf("check routes in the pod: %w", err)
		}
		return nil
	})
	return peer, err
}

// checkPodAddrs verifies, as the reference does, that every result
// address is on the interface with its prefix length and that a route to
// its subnet exists.
func checkPodAddrs(l netlink.Link, ips []*current.IPConfig) error {
	have, err := linkAddrs(l)
	if err != nil {
		return fmt.Errorf("list addresses: %w", err)
	}
	for _, ipc := range ips {
		want := netlink.Addr{IPNet: &net.IPNet{IP: ipc.Address.IP, Mask: ipc.Address.Mask}}
		if !slices.ContainsFunc(have, want.Equal) {
			return fmt.Errorf("address %s is missing", ipc.Address.String())
		}
		subnet := &net.IPNet{IP: ipc.Address.IP.Mask(ipc.Address.Mask), Mask: ipc.Address.Mask}
		rs, err := netlinksafe.RouteListFiltered(familyOf(ipc.Address.IP), &netlink.Route{Dst: subnet}, netlink.RT_FILTER_DST)
		if err != nil {
			return fmt.Errorf("look up the route to %s: %w", subnet, err)
		}
		if len(rs) == 0 {
			return fmt.Errorf("no route to the subnet %s of address %s", subnet, ipc.Address.String())
		}
	}
	return nil
}

// checkPodRoutes verifies that every result route is in the pod's main
// table (destination, and gateway when the route has one), as the
// reference does.
func checkPodRoutes(routes []*types.Route) error {
	for _, r := range routes {
		find := &netlink.Route{Dst: &net.IPNet{IP: r.Dst.IP, Mask: r.Dst.Mask}, Gw: r.GW}
		filter := netlink.RT_FILTER_DST
		if r.GW != nil {
			filter |= netlink.RT_FILTER_GW
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			// The kernel reports a default route without a destination.
			find.Dst, filter = nil, netlink.RT_FILTER_DST
		}
		rs, err := netlinksafe.RouteListFiltered(familyOf(r.Dst.IP), find, filter)
		if err != nil {
			return fmt.Errorf("look up route %s: %w", r.Dst.String(), err)
		}
		if len(rs) == 0 && r.GW != nil {
			return fmt.Errorf("route %s via %s is missing", r.Dst.String(), r.GW)
		}
		if len(rs) == 0 {
			return fmt.Errorf("route %s is missing", r.Dst.String())
		}
	}
	return nil
}

func familyOf(ip net.IP) int {
	if ip.To4() != nil {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// checkHostVeth verifies that the pod interface's peer is a veth attached
// to the bridge.
func checkHostVeth(peer int, br netlink.Link, res *current.Result) error {
	host, err := netlink.LinkByIndex(peer)
	if err != nil {
		return fmt.Errorf("check the pod interface's peer (ifindex %d): %w", peer, err)
	}
	name := host.Attrs().Name
	if host.Type() != "veth" {
		return fmt.Errorf("check veth %q: it is a %s", name, host.Type())
	}
	if host.Attrs().MasterIndex != br.Attrs().Index {
		return fmt.Errorf("check veth %q: it is not a port of bridge %q", name, br.Attrs().Name)
	}
	if len(res.Interfaces) > 1 && res.Interfaces[1].Name != name {
		return fmt.Errorf("check veth %q: the result names the host end %q", name, res.Interfaces[1].Name)
	}
	return nil
}

// checkNode verifies the gateway addresses on the bridge (or the VLAN
// gateway interface) and the masquerade rules.
func checkNode(ctx context.Context, conf *netConf, br netlink.Link, res *current.Result, d deps) error {
	gwLink := br
	if conf.IsGW && conf.Vlan != 0 {
		l, err := netlinksafe.LinkByName(vlanGatewayName(conf.BrName, conf.Vlan))
		if err != nil {
			return fmt.Errorf("check vlan gateway interface: %w", err)
		}
		gwLink = l
	}
	var subnets []netip.Prefix
	for _, ipc := range res.IPs {
		subnets = append(subnets, toPrefix(ipc.Address).Masked())
		if !conf.IsGW || ipc.Gateway == nil {
			continue
		}
		if err := checkGateway(gwLink, net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask}); err != nil {
			return err
		}
	}
	if !conf.IPMasq {
		return nil
	}
	m, err := d.masq(conf.backend)
	if err != nil {
		return err
	}
	if err := m.CheckMasquerade(ctx, conf.Name, subnets); err != nil {
		return fmt.Errorf("ipMasq: %w", err)
	}
	return nil
}

func checkGateway(l netlink.Link, gw net.IPNet) error {
	have, err := linkAddrs(l)
	if err != nil {
		return fmt.Errorf("list addresses of %q: %w", l.Attrs().Name, err)
	}
	if !hasAddr(have, gw) {
		return fmt.Errorf("check %q: gateway address %s is missing", l.Attrs().Name, gw.String())
	}
	return nil
}
