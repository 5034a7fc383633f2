package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// linkPlan is the layer-2 part of ADD: what exists before any address is
// known, so it can be built while IPAM runs.
type linkPlan struct {
	Bridge      string
	BridgeMTU   int // 0: kernel default; only used when the bridge is created
	Promisc     bool
	VlanFilter  bool // set on a bridge we create, when vlan or vlanTrunk is used
	HostVeth    string
	PodIf       string
	MAC         net.HardwareAddr // nil: kernel-chosen
	MTU         int              // both veth ends; 0: the bridge's
	Hairpin     bool
	Isolated    bool
	PVID        int   // 0: none
	Trunk       []int // tagged VLANs
	KeepVlan1   bool  // preserveDefaultVlan
	PodUp       bool  // false with disableContainerInterface
	EnhancedDAD bool  // enabledad
	// KeepLinkLocal (keepIPv6LinkLocal) keeps the kernel's IPv6 link-local
	// address on the pod end of an IPv4-only attachment. Without it that
	// end gets none (addr_gen_mode=none), so it joins no solicited-node
	// group and sends no MLD report: with no multicast querier on the
	// bridge, each such report is flooded to every pod, and the kernel
	// sends it holding the RTNL lock that every ADD needs, which made ADD
	// slower with every pod on the node.
	KeepLinkLocal bool
}

// hostVethName is the node-side name of an attachment's veth: "veth" and 8
// hex digits of a hash of network, container and interface. It is stable,
// so DEL finds the pair without entering the pod's netns (which may be
// gone), and concurrent ADDs never collide.
func hostVethName(network, containerID, ifName string) string {
	sum := sha256.Sum256([]byte(network + "/" + containerID + "/" + ifName))
	return "veth" + hex.EncodeToString(sum[:4])
}

// planLinks builds the link plan of an attachment.
func planLinks(c *netConf, containerID, ifName string) linkPlan {
	return linkPlan{
		Bridge:        c.BrName,
		BridgeMTU:     c.MTU,
		Promisc:       c.PromiscMode,
		VlanFilter:    c.Vlan != 0 || len(c.trunkVIDs) > 0,
		HostVeth:      hostVethName(c.Name, containerID, ifName),
		PodIf:         ifName,
		MAC:           c.mac,
		MTU:           c.MTU,
		Hairpin:       c.HairpinMode,
		Isolated:      c.PortIsolation,
		PVID:          c.Vlan,
		Trunk:         c.trunkVIDs,
		KeepVlan1:     c.PreserveDefaultVlan,
		PodUp:         !c.DisableContainerInterface,
		EnhancedDAD:   c.EnableDad,
		KeepLinkLocal: c.KeepIPv6LinkLocal,
	}
}

// addrPlan is the layer-3 part of ADD, computed from the IPAM result.
type addrPlan struct {
	// PodAddrs go on the pod interface.
	PodAddrs []net.IPNet
	// PodRoutes go in the pod, gateway filled in per family.
	PodRoutes []*types.Route
	// Gateways go on the bridge (gateway/prefix), with isGateway.
	Gateways []net.IPNet
	// Forward4 and Forward6 enable forwarding on the node.
	Forward4, Forward6 bool
	// Masq are the subnets to masquerade, with ipMasq.
	Masq []netip.Prefix
	// V6 is set when an IPv6 address goes on the pod.
	V6 bool
	// Result is the IPAM result completed: IPs point at the pod
	// interface (index 2), gateways and default routes filled in.
	Result *current.Result
}

// planAddrs completes the IPAM result the way the reference does and
// derives the addresses, routes, gateways and masquerade subnets.
func planAddrs(c *netConf, ipamRes *current.Result) (*addrPlan, error) {
	res := copyResult(ipamRes)
	p := &addrPlan{Result: res}
	var defaultDone [2]bool
	var familyGW [2]net.IP
	for _, ipc := range res.IPs {
		fam, err := familyIndex(ipc.Address.IP)
		if err != nil {
			return nil, fmt.Errorf("plan addresses: IPAM returned %s: %w", ipc.Address.String(), err)
		}
		ipc.Interface = current.Int(2)
		if ipc.Gateway == nil && c.IsGW {
			ipc.Gateway = firstHost(ipc.Address)
		}
		if familyGW[fam] == nil {
			familyGW[fam] = ipc.Gateway
		}
		if c.IsDefaultGW && !defaultDone[fam] {
			defaultDone[fam] = true
			if !hasDefaultRoute(res.Routes, fam) {
				res.Routes = append(res.Routes, &types.Route{Dst: defaultNet(fam), GW: ipc.Gateway})
			}
		}
		if c.IsGW {
			p.Gateways = append(p.Gateways, net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask})
			p.Forward4 = p.Forward4 || fam == 0
			p.Forward6 = p.Forward6 || fam == 1
		}
		p.PodAddrs = append(p.PodAddrs, ipc.Address)
		p.V6 = p.V6 || fam == 1
		if c.IPMasq {
			p.Masq = append(p.Masq, toPrefix(ipc.Address).Masked())
		}
	}
	for _, r := range res.Routes {
		rc := *r
		if rc.GW == nil {
			if fam, err := familyIndex(rc.Dst.IP); err == nil {
				rc.GW = familyGW[fam]
			}
		}
		p.PodRoutes = append(p.PodRoutes, &rc)
	}
	if len(c.DNS.Nameservers) > 0 || c.DNS.Domain != "" || len(c.DNS.Search) > 0 || len(c.DNS.Options) > 0 {
		res.DNS = c.DNS
	}
	return p, nil
}

// familyIndex is 0 for IPv4 and 1 for IPv6.
func familyIndex(ip net.IP) (int, error) {
	switch {
	case ip.To4() != nil:
		return 0, nil
	case len(ip) == net.IPv6len:
		return 1, nil
	}
	return 0, fmt.Errorf("not an IPv4 or IPv6 address")
}

// firstHost is the first address of a subnet: the reference's implied
// gateway.
func firstHost(n net.IPNet) net.IP {
	p := toPrefix(n).Masked()
	return net.IP(p.Addr().Next().AsSlice())
}

func defaultNet(fam int) net.IPNet {
	if fam == 0 {
		return net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}

// hasDefaultRoute reports whether routes hold a default route with a
// gateway for the family, which isDefaultGateway then leaves alone.
func hasDefaultRoute(routes []*types.Route, fam int) bool {
	want := defaultNet(fam)
	for _, r := range routes {
		if r.GW != nil && r.Dst.String() == want.String() {
			return true
		}
	}
	return false
}

// toPrefix converts an IPNet (IPv4 in either length) to a netip.Prefix.
func toPrefix(n net.IPNet) netip.Prefix {
	a, _ := netip.AddrFromSlice(n.IP)
	a = a.Unmap()
	ones, _ := n.Mask.Size()
	if a.Is4() && len(n.Mask) == net.IPv6len {
		ones -= 96
	}
	return netip.PrefixFrom(a, ones)
}

// render prints the plan as iproute2-like lines for goldens and logs.
func (l linkPlan) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bridge %s mtu %d promisc %v vlan_filtering %v\n", l.Bridge, l.BridgeMTU, l.Promisc, l.VlanFilter)
	fmt.Fprintf(&b, "veth %s master %s mtu %d hairpin %v isolated %v peer %s mac %s up %v\n",
		l.HostVeth, l.Bridge, l.MTU, l.Hairpin, l.Isolated, l.PodIf, orAuto(l.MAC), l.PodUp)
	if l.PVID != 0 || len(l.Trunk) > 0 {
		fmt.Fprintf(&b, "vlan %s pvid %d trunk %v keep-vlan1 %v\n", l.HostVeth, l.PVID, l.Trunk, l.KeepVlan1)
	}
	return b.String()
}

func orAuto(mac net.HardwareAddr) string {
	if mac == nil {
		return "auto"
	}
	return mac.String()
}

// render prints the address plan as iproute2-like lines.
func (p *addrPlan) render(podIf, bridge string) string {
	var b strings.Builder
	for _, a := range p.PodAddrs {
		fmt.Fprintf(&b, "pod addr %s dev %s\n", a.String(), podIf)
	}
	for _, r := range p.PodRoutes {
		fmt.Fprintf(&b, "pod route %s via %s dev %s\n", r.Dst.String(), r.GW, podIf)
	}
	for _, g := range p.Gateways {
		fmt.Fprintf(&b, "node addr %s dev %s\n", g.String(), bridge)
	}
	if p.Forward4 {
		b.WriteString("node sysctl net/ipv4/ip_forward=1\n")
	}
	if p.Forward6 {
		b.WriteString("node sysctl net/ipv6/conf/all/forwarding=1\n")
	}
	for _, m := range p.Masq {
		fmt.Fprintf(&b, "node masquerade %s\n", m)
	}
	return b.String()
}

// copyResult copies a result deeply enough that completing it leaves the
// original alone.
func copyResult(r *current.Result) *current.Result {
	c := *r
	c.IPs, c.Routes, c.Interfaces = nil, nil, nil
	for _, ipc := range r.IPs {
		x := *ipc
		c.IPs = append(c.IPs, &x)
	}
	for _, rt := range r.Routes {
		x := *rt
		c.Routes = append(c.Routes, &x)
	}
	for _, i := range r.Interfaces {
		x := *i
		c.Interfaces = append(c.Interfaces, &x)
	}
	return &c
}
