package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// ensureGateways puts the gateway addresses on the bridge (or the VLAN
// gateway interface). An address already there is fine. A different IPv4
// address, or an IPv6 address in an overlapping prefix, is refused unless
// forceAddress, which replaces it. When it adds an address it also pins
// the link's MAC, so a bridge made by someone else stops following its
// lowest port.
// Equivalent to: `ip addr add $gw/$len dev $br`.
func ensureGateways(l netlink.Link, gws []net.IPNet, force bool, log *slog.Logger) error {
	if len(gws) == 0 {
		return nil
	}
	name := l.Attrs().Name
	have, err := linkAddrs(l)
	if err != nil {
		return fmt.Errorf("list addresses of %q: %w", name, err)
	}
	added := false
	for _, gw := range gws {
		if hasAddr(have, gw) {
			continue
		}
		for _, old := range conflicting(have, gw, gws) {
			if !force {
				return cniplugin.ConfigErrorf("bridge %q already has address %s, not %s; set forceAddress to replace it", name, old.IPNet, gw.String())
			}
			if err := netlink.AddrDel(l, &old); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return fmt.Errorf("replace address %s on %q: %w", old.IPNet, name, err)
			}
			log.Warn("forceAddress: replaced bridge address", "bridge", name, "old", old.IPNet.String(), "new", gw.String())
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.IP, Mask: gw.Mask}}
		if gw.IP.To4() == nil {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(l, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("add gateway address %s to %q: %w", gw.String(), name, err)
		}
		added = true
	}
	if added {
		if err := pinMAC(l); err != nil {
			return err
		}
	}
	return nil
}

// pinMAC sets the link's MAC explicitly (to its current value, or a random
// one when it has none: a bridge that lost its last port has 00:00:..),
// so a bridge stops following its lowest port.
// Equivalent to: `ip link set $br address $mac`.
func pinMAC(l netlink.Link) error {
	mac := l.Attrs().HardwareAddr
	if len(mac) == 0 {
		mac = randomMAC()
	}
	if err := netlink.LinkSetHardwareAddr(l, mac); err != nil {
		return fmt.Errorf("pin MAC %s of %q: %w", mac, l.Attrs().Name, err)
	}
	l.Attrs().HardwareAddr = mac
	return nil
}

func hasAddr(have []netlink.Addr, gw net.IPNet) bool {
	for _, a := range have {
		if a.IP.Equal(gw.IP) && a.Mask.String() == gw.Mask.String() {
			return true
		}
	}
	return false
}

// conflicting returns the addresses on the link that gw would contradict:
// for IPv4 any other global address (the reference allows one subnet per
// bridge), for IPv6 any address in an overlapping prefix. Addresses that
// are themselves planned gateways (several ranges) never conflict.
func conflicting(have []netlink.Addr, gw net.IPNet, planned []net.IPNet) []netlink.Addr {
	var out []netlink.Addr
	v4 := gw.IP.To4() != nil
	for _, a := range have {
		if (a.IP.To4() != nil) != v4 || !a.IP.IsGlobalUnicast() || isPlanned(a, planned) {
			continue
		}
		if v4 || a.IPNet.Contains(gw.IP) || gw.Contains(a.IP) {
			out = append(out, a)
		}
	}
	return out
}

func isPlanned(a netlink.Addr, planned []net.IPNet) bool {
	for _, p := range planned {
		if a.IP.Equal(p.IP) {
			return true
		}
	}
	return false
}

// enableForwarding turns on forwarding for the families the gateways use,
// writing only when it is off. The state is read through rtnetlink: on a
// busy node that is cheaper than a /proc/sys walk (see sysctlTree).
// Equivalent to: `sysctl net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1`.
func enableForwarding(v4, v6 bool) error {
	for _, f := range []struct {
		want   bool
		family int
		key    string
		name   string
	}{
		{v4, unix.AF_INET, "net/ipv4/ip_forward", "IPv4"},
		{v6, unix.AF_INET6, "net/ipv6/conf/all/forwarding", "IPv6"},
	} {
		if !f.want {
			continue
		}
		on, err := forwardingOn(f.family)
		if err != nil {
			// A kernel without the answer: read /proc/sys instead.
			err = ensureSysctl(f.key, "1")
		} else if !on {
			err = writeSysctl(f.key, "1")
		}
		if err != nil {
			return fmt.Errorf("enable %s forwarding: %w", f.name, err)
		}
	}
	return nil
}

// forgetNeighbors deletes the bridge's neighbor entries for the pod's
// addresses: a reused address may still map to the previous pod's MAC,
// which would leave the new pod unreachable from the node until the entry
// ages out (~10 s). A missing entry is the common case and fine. It
// returns the IPv4 addresses it found an entry for: recently used by a
// previous pod, so peers may hold the stale MAC too.
// Equivalent to: `ip neigh del $ip dev $br`.
func forgetNeighbors(l netlink.Link, addrs []net.IPNet) ([]net.IP, error) {
	var reused []net.IP
	for _, a := range addrs {
		fam := netlink.FAMILY_V4
		if a.IP.To4() == nil {
			fam = netlink.FAMILY_V6
		}
		err := netlink.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: fam, IP: a.IP})
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
			continue // no entry: the address was not in use lately
		}
		if err != nil {
			return nil, fmt.Errorf("delete stale neighbor %s on %q: %w", a.IP, l.Attrs().Name, err)
		}
		if fam == netlink.FAMILY_V4 {
			reused = append(reused, a.IP)
		}
	}
	return reused, nil
}

// portUpTimeout bounds the wait for the host veth to come up.
const portUpTimeout = 5 * time.Second

// waitPortUp waits until the host end of the veth is operationally up (its
// pod end is up and the kernel has processed the carrier change), woken
// by link notifications; usually it is up already and this costs one
// lookup.
func waitPortUp(host netlink.Link) error {
	ch := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	subscribed := false
	deadline := time.After(portUpTimeout)
	for {
		l, err := netlink.LinkByIndex(host.Attrs().Index)
		if err != nil {
			return fmt.Errorf("read bridge port %q: %w", host.Attrs().Name, err)
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if !subscribed {
			if err := netlink.LinkSubscribe(ch, done); err != nil {
				return fmt.Errorf("watch bridge port %q: %w", host.Attrs().Name, err)
			}
			subscribed = true
			continue
		}
		select {
		case <-ch:
		case <-deadline:
			return fmt.Errorf("bridge port %q is still %s after %s", host.Attrs().Name, l.Attrs().OperState, portUpTimeout)
		}
	}
}
