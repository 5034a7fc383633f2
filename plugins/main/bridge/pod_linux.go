package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// dadTimeout bounds the wait for IPv6 duplicate address detection when
// enabledad is set.
const dadTimeout = 5 * time.Second

// podSysctls sets the pod interface's IPv6 switches before any address is
// known: DAD off (accept_dad=0) unless enabledad (then accept_dad=1,
// enhanced_dad=1), as the reference does, and router advertisements off
// (accept_ra=0). IPAM gives the pod its addresses and routes; an RA could
// only come from another pod on the bridge, which would then become the
// pod's IPv6 router (the pod-to-pod form of CVE-2020-10749), and a pod
// that listens for RAs also sends router solicitations that the bridge
// floods to every pod. The interface was just created with the
// namespace's defaults, so the keys are written without being read
// first. arp_notify=1, the reference's other pod setting, goes with the
// link-up request (setPodLink). The namespace may have IPv6 disabled: a
// missing IPv6 key is returned as dadErr, an error only if an IPv6
// address comes.
func podSysctls(t *sysctlTree, p linkPlan) (dadErr, err error) {
	conf := "net/ipv6/conf/" + p.PodIf + "/"
	keys := [][2]string{{conf + "accept_ra", "0"}, {conf + "accept_dad", "0"}}
	if p.EnhancedDAD {
		keys = [][2]string{{conf + "accept_ra", "0"}, {conf + "accept_dad", "1"}, {conf + "enhanced_dad", "1"}}
	}
	for _, kv := range keys {
		err := t.write(kv[0], kv[1])
		if errors.Is(err, syscall.ENOENT) {
			return err, nil
		}
		if err != nil {
			return nil, fmt.Errorf("pod: %w", err)
		}
	}
	return nil, nil
}

// podIPv6Sysctls enables IPv6 on lo and the interface for the IPv6
// address that is coming, and keeps addresses when the link goes down, as
// the reference does.
func podIPv6Sysctls(t *sysctlTree, p linkPlan) error {
	for _, kv := range [][2]string{
		{"net/ipv6/conf/lo/disable_ipv6", "0"},
		{"net/ipv6/conf/" + p.PodIf + "/disable_ipv6", "0"},
		{"net/ipv6/conf/" + p.PodIf + "/keep_addr_on_down", "1"},
	} {
		if err := t.ensure(kv[0], kv[1]); err != nil {
			return fmt.Errorf("pod: %w", err)
		}
	}
	return nil
}

// addPodAddrs adds the IPAM addresses. IPv6 ones skip DAD (nodad) unless
// enabledad: the address is usable as soon as ADD returns.
// Equivalent to: `ip addr add $addr dev $if [nodad]`.
func addPodAddrs(l netlink.Link, addrs []net.IPNet, dad bool) error {
	for _, a := range addrs {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.IP, Mask: a.Mask}}
		if a.IP.To4() == nil && !dad {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(l, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("add address %s to %q in the pod: %w", a.String(), l.Attrs().Name, err)
		}
	}
	return nil
}

// addPodRoutes adds the routes of the plan; a second route to the same
// destination is appended (ECMP), as the reference does. Route mtu and
// advmss from IPAM are applied too.
// Equivalent to: `ip route add $dst via $gw dev $if`.
func addPodRoutes(l netlink.Link, routes []*types.Route) error {
	for _, r := range routes {
		nr := podRoute(l.Attrs().Index, r)
		err := netlink.RouteAdd(nr)
		if errors.Is(err, syscall.EEXIST) {
			err = netlink.RouteAppend(nr)
		}
		if err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("add route %s via %s dev %q in the pod: %w", r.Dst.String(), r.GW, l.Attrs().Name, err)
		}
	}
	return nil
}

// podRoute converts a CNI route to a netlink route on the pod interface.
func podRoute(index int, r *types.Route) *netlink.Route {
	dst := r.Dst
	nr := &netlink.Route{LinkIndex: index, Dst: &dst, Gw: r.GW, Priority: r.Priority, MTU: r.MTU, AdvMSS: r.AdvMSS}
	if r.GW == nil {
		nr.Scope = netlink.SCOPE_LINK
	}
	if r.Table != nil {
		nr.Table = *r.Table
	}
	if r.Scope != nil {
		nr.Scope = netlink.Scope(*r.Scope)
	}
	return nr
}

// waitDAD waits until no IPv6 address of the link is tentative, woken by
// address notifications rather than polling, and fails on a duplicate.
func waitDAD(l netlink.Link) error {
	ch := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribe(ch, done); err != nil {
		return fmt.Errorf("watch addresses of %q: %w", l.Attrs().Name, err)
	}
	deadline := time.After(dadTimeout)
	for {
		tentative, err := tentativeAddrs(l)
		if err != nil || tentative == 0 {
			return err
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("wait for DAD on %q: %d addresses still tentative after %s", l.Attrs().Name, tentative, dadTimeout)
		}
	}
}

// tentativeAddrs counts the link's IPv6 addresses still in DAD; a failed
// DAD is an error naming the address.
func tentativeAddrs(l netlink.Link) (int, error) {
	addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return 0, fmt.Errorf("list addresses of %q: %w", l.Attrs().Name, err)
	}
	n := 0
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_DADFAILED != 0 {
			return 0, fmt.Errorf("address %s on %q: duplicate address detected", a.IPNet, l.Attrs().Name)
		}
		if a.Flags&unix.IFA_F_TENTATIVE != 0 && a.IP.IsGlobalUnicast() {
			n++
		}
	}
	return n, nil
}
