package main

import (
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// setupLoopback sets lo up in the namespace and returns its addresses. It
// refuses a lo that carries a non-loopback address: something else
// configured it, and reporting it as ours would be a lie.
// Equivalent to: `ip -n $netns link set lo up`.
func setupLoopback(netns string) ([]net.IPNet, error) {
	var addrs []net.IPNet
	err := cniplugin.WithNetNS(netns, func(ns.NetNS) error {
		lo, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %q: %w", netns, err)
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return fmt.Errorf("set lo up in %q: %w", netns, err)
		}
		list, err := netlinksafe.AddrList(lo, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list addresses of lo in %q: %w", netns, err)
		}
		for _, a := range list {
			if !a.IP.IsLoopback() {
				return cniplugin.Errorf(cniplugin.ErrInvalidNetworkConfig,
					"lo in %q has non-loopback address %s; refusing to report it", netns, a.IPNet)
			}
			addrs = append(addrs, *a.IPNet)
		}
		return nil
	})
	return addrs, err
}

// teardownLoopback sets lo down, undoing ADD as the reference does.
// Equivalent to: `ip -n $netns link set lo down`.
func teardownLoopback(netns string) error {
	return cniplugin.WithNetNS(netns, func(ns.NetNS) error {
		lo, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %q: %w", netns, err)
		}
		if err := netlink.LinkSetDown(lo); err != nil {
			return fmt.Errorf("set lo down in %q: %w", netns, err)
		}
		return nil
	})
}

// checkLoopback verifies that lo is up.
func checkLoopback(netns string) error {
	return cniplugin.WithNetNS(netns, func(ns.NetNS) error {
		lo, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo in %q: %w", netns, err)
		}
		if lo.Attrs().Flags&net.FlagUp == 0 {
			return fmt.Errorf("check lo in %q: interface is down", netns)
		}
		return nil
	})
}
