package main

import (
	"errors"
	"fmt"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// podLinks are the pod's interface and, when it is a veth, its peer on the
// node, with their MTUs.
type podLinks struct {
	podMTU   int
	hostIdx  int // 0 when the pod interface is not a veth
	hostName string
	hostMTU  int
}

// setPodMTU lowers the pod interface (CNI_IFNAME in CNI_NETNS) and its
// host veth to mtu when they are larger, and reports both MTUs in res.
// Equivalent to: `ip -n $netns link set $ifname mtu $mtu; ip link set
// $hostveth mtu $mtu`. On failure the pod side is restored.
func setPodMTU(c *cniplugin.Call, res *current.Result, mtu int) error {
	var links podLinks
	err := cniplugin.WithNetNS(c.Netns, func(ns.NetNS) error {
		var err error
		links, err = lowerPodLink(c.IfName, mtu)
		return err
	})
	if err != nil {
		return err
	}
	if links.hostIdx != 0 {
		if err := lowerHostLink(&links, mtu); err != nil {
			return errors.Join(err, restorePodMTU(c, links.podMTU, mtu))
		}
	}
	for _, iface := range res.Interfaces {
		switch {
		case iface.Name == c.IfName && iface.Sandbox != "":
			iface.Mtu = min(links.podMTU, mtu)
		case links.hostName != "" && iface.Name == links.hostName && iface.Sandbox == "":
			iface.Mtu = min(links.hostMTU, mtu)
		}
	}
	return nil
}

// lowerPodLink runs inside the pod: it lowers the interface's MTU and finds
// its veth peer.
func lowerPodLink(ifName string, mtu int) (podLinks, error) {
	link, err := netlinksafe.LinkByName(ifName)
	if err != nil {
		return podLinks{}, fmt.Errorf("find pod interface %q: %w", ifName, err)
	}
	l := podLinks{podMTU: link.Attrs().MTU}
	if veth, ok := link.(*netlink.Veth); ok {
		if l.hostIdx, err = netlink.VethPeerIndex(veth); err != nil {
			return podLinks{}, fmt.Errorf("find the host peer of pod interface %q: %w", ifName, err)
		}
	}
	if l.podMTU > mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return podLinks{}, fmt.Errorf("set mtu %d on pod interface %q: %w", mtu, ifName, err)
		}
	}
	return l, nil
}

// lowerHostLink lowers the pod's host veth in the current namespace.
func lowerHostLink(l *podLinks, mtu int) error {
	host, err := netlink.LinkByIndex(l.hostIdx)
	if err != nil {
		return fmt.Errorf("find host veth %d of the pod: %w", l.hostIdx, err)
	}
	l.hostName, l.hostMTU = host.Attrs().Name, host.Attrs().MTU
	if l.hostMTU > mtu {
		if err := netlink.LinkSetMTU(host, mtu); err != nil {
			return fmt.Errorf("set mtu %d on host veth %q: %w", mtu, l.hostName, err)
		}
	}
	return nil
}

// restorePodMTU undoes lowerPodLink's change.
func restorePodMTU(c *cniplugin.Call, old, lowered int) error {
	if old <= lowered {
		return nil
	}
	return cniplugin.WithNetNS(c.Netns, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(c.IfName)
		if err == nil {
			err = netlink.LinkSetMTU(link, old)
		}
		if err != nil {
			return fmt.Errorf("restore mtu %d on pod interface %q: %w", old, c.IfName, err)
		}
		return nil
	})
}

// checkPodMTU fails when the pod interface or its host veth is larger than
// the overlay MTU.
func checkPodMTU(c *cniplugin.Call, mtu int) error {
	var links podLinks
	err := cniplugin.WithNetNS(c.Netns, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName(c.IfName)
		if err != nil {
			return fmt.Errorf("find pod interface %q: %w", c.IfName, err)
		}
		links.podMTU = link.Attrs().MTU
		if veth, ok := link.(*netlink.Veth); ok {
			links.hostIdx, _ = netlink.VethPeerIndex(veth)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if links.podMTU > mtu {
		return fmt.Errorf("check pod interface %q: mtu %d exceeds the overlay mtu %d", c.IfName, links.podMTU, mtu)
	}
	if links.hostIdx != 0 {
		if host, err := netlink.LinkByIndex(links.hostIdx); err == nil && host.Attrs().MTU > mtu {
			return fmt.Errorf("check host veth %q: mtu %d exceeds the overlay mtu %d", host.Attrs().Name, host.Attrs().MTU, mtu)
		}
	}
	return nil
}
