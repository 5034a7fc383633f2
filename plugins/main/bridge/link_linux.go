package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/linkdel"
)

// isNotFound reports a missing link, from netlink's typed error or errno.
func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOENT)
}

// randomMAC returns a random unicast, locally administered MAC. Links
// created with an explicit MAC keep it: the bridge does not follow its
// lowest port, udev's MACAddressPolicy leaves the host veth alone.
func randomMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&0xfe | 0x02
	return mac
}

// ensureBridge returns the bridge, creating it when missing: with the
// configured MTU (kept even when no port is left), a pinned random MAC, accept_ra=0 before it comes up,
// and VLAN filtering when the plan asks for it. An existing link of
// another type is a config error. Concurrent ADDs may race to create it;
// the loser uses the winner's.
// Equivalent to: `ip link add $br type bridge; ip link set $br up`.
func ensureBridge(p linkPlan, log *slog.Logger) (netlink.Link, error) {
	return ensureFoundBridge(lookupBridge(p.Bridge), p, log)
}

// bridgeLookup is the outcome of looking the bridge up by name.
type bridgeLookup struct {
	link netlink.Link
	err  error
}

func lookupBridge(name string) bridgeLookup {
	l, err := netlinksafe.LinkByName(name)
	return bridgeLookup{l, err}
}

// ensureFoundBridge is ensureBridge after the lookup.
func ensureFoundBridge(found bridgeLookup, p linkPlan, log *slog.Logger) (netlink.Link, error) {
	br, err := found.link, found.err
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("find bridge %q: %w", p.Bridge, err)
	}
	if err != nil {
		br, err = createBridge(p)
		if err != nil {
			return nil, err
		}
		log.Info("created bridge", "bridge", p.Bridge, "mtu", br.Attrs().MTU, "vlanFiltering", p.VlanFilter)
	}
	if br.Type() != "bridge" {
		return nil, cniplugin.ConfigErrorf("bridge %q: a link of that name exists and is a %s, not a bridge", p.Bridge, br.Type())
	}
	return br, convergeBridge(br, p)
}

// createBridge adds the bridge, down; EEXIST means another ADD won.
func createBridge(p linkPlan) (netlink.Link, error) {
	la := netlink.NewLinkAttrs()
	la.Name = p.Bridge
	la.HardwareAddr = randomMAC()
	br := &netlink.Bridge{LinkAttrs: la}
	if p.VlanFilter {
		br.VlanFiltering = &p.VlanFilter
	}
	err := netlink.LinkAdd(br)
	if err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("create bridge %q: %w", p.Bridge, err)
	}
	l, err := netlinksafe.LinkByName(p.Bridge)
	if err != nil {
		return nil, fmt.Errorf("find bridge %q after creating it: %w", p.Bridge, err)
	}
	if p.BridgeMTU != 0 {
		// Set after creation, through the MTU change path: that marks it
		// as set by the user, so the kernel does not move it back to 1500
		// when the last port leaves, nor follow a port's MTU.
		if err := netlink.LinkSetMTU(l, p.BridgeMTU); err != nil {
			return nil, fmt.Errorf("set bridge %q mtu %d: %w", p.Bridge, p.BridgeMTU, err)
		}
	}
	return l, nil
}

// convergeBridge makes an existing bridge match the plan: accept_ra=0 (no
// router advertisements from pods configure the node), promiscuous mode
// when asked, a pinned MAC when it has none, and up.
func convergeBridge(br netlink.Link, p linkPlan) error {
	if err := ensureSysctl("net/ipv6/conf/"+p.Bridge+"/accept_ra", "0"); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("bridge %q: %w", p.Bridge, err)
	}
	if p.Promisc && br.Attrs().Promisc == 0 {
		if err := netlink.SetPromiscOn(br); err != nil {
			return fmt.Errorf("set bridge %q promiscuous: %w", p.Bridge, err)
		}
	}
	if len(br.Attrs().HardwareAddr) == 0 {
		// An unpinned bridge without ports has the zero MAC; pin one now.
		if err := pinMAC(br); err != nil {
			return err
		}
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return fmt.Errorf("set bridge %q up: %w", p.Bridge, err)
		}
	}
	return nil
}

// errIfExists marks an ADD whose interface name is already taken in the pod.
var errIfExists = errors.New("interface already exists in the pod")

// createVeth creates the pair in one netlink call (addVeth): the host end
// in the node's namespace with a pinned MAC, already a port of the bridge
// (master index; 0: none) and up, the pod end down and directly in the
// pod's namespace with the planned name and MAC. The host end has no
// carrier, so no traffic and no IPv6 autoconfiguration, until the pod end
// comes up. A host end of the same name is a leftover of this very
// attachment (the name hashes network, container and interface): it is
// deleted and the pair created again.
func createVeth(p linkPlan, mtu, master int, pod ns.NetNS, log *slog.Logger) (netlink.Link, error) {
	for attempt := 0; ; attempt++ {
		host, err := addVeth(vethSpec{
			host: p.HostVeth, peer: p.PodIf, mtu: mtu,
			hostMAC: randomMAC(), peerMAC: p.MAC,
			master: master, peerNetNS: int(pod.Fd()),
		})
		if err == nil {
			return host, nil
		}
		if !errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("create veth %q with peer %q in %q: %w", p.HostVeth, p.PodIf, pod.Path(), err)
		}
		gone := false
		if attempt == 0 {
			var derr error
			if gone, derr = deleteHostVeth(p.HostVeth); derr != nil {
				return nil, derr
			}
		}
		if !gone {
			return nil, cniplugin.Errorf(cniplugin.ErrInvalidEnvironment, "create interface %q in %q: %w", p.PodIf, pod.Path(), errIfExists)
		}
		log.Warn("deleted a leftover veth of this attachment", "veth", p.HostVeth)
	}
}

// deleteHostVeth deletes a veth by name in the node's namespace; its pod
// end goes with it. It reports whether one was deleted; a missing link is
// not an error.
// Equivalent to: `ip link del $host`.
func deleteHostVeth(name string) (bool, error) {
	l, err := netlinksafe.LinkByName(name)
	if isNotFound(err) {
		return false, nil // already gone, with its pod end
	}
	if err != nil {
		return false, fmt.Errorf("find veth %q: %w", name, err)
	}
	if l.Type() != "veth" {
		return false, fmt.Errorf("delete veth %q: the link is a %s, not ours", name, l.Type())
	}
	if err := linkdel.Delete(l); err != nil {
		return false, fmt.Errorf("delete veth %q: %w", name, err)
	}
	return true, nil
}

// setupPort makes an existing link a bridge port: the sysctls while it is
// down, master, port flags and VLANs, then up.
// Equivalent to: `ip link set $l master $br; ...; ip link set $l up`.
func setupPort(l, br netlink.Link, p linkPlan) error {
	if err := quietPort(l.Attrs().Index, l.Attrs().Name); err != nil {
		return err
	}
	if err := netlink.LinkSetMasterByIndex(l, br.Attrs().Index); err != nil {
		return fmt.Errorf("attach %q to bridge %q: %w", l.Attrs().Name, p.Bridge, err)
	}
	if err := configurePort(l, p); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %q up: %w", l.Attrs().Name, err)
	}
	return nil
}

// quietPort turns off router advertisements and the IPv6 link-local
// address of a bridge port before it has a carrier: a bridge port needs no
// address of its own, so it neither learns from a pod's router
// advertisements nor spends DAD and MLD work per pod.
//
// accept_ra goes through /proc/sys: no rtnetlink attribute sets it. The
// link-local address is left out with addr_gen_mode=none over rtnetlink,
// not with disable_ipv6=1: the kernel's disable_ipv6 handler does not wait
// for the RTNL lock, it makes the write() start over until it gets the
// lock, so it spins a CPU for as long as another task holds RTNL (on a
// node where other pods were coming up, over a thousand times in one ADD).
// A node without IPv6 has neither and needs neither.
// Equivalent to: `sysctl net.ipv6.conf.$l.accept_ra=0; ip link set $l
// addrgenmode none`.
func quietPort(index int, name string) error {
	if err := writeSysctl("net/ipv6/conf/"+name+"/accept_ra", "0"); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("veth %q: %w", name, err)
	}
	_, err := netlinkExchange(linkSettingsRequest(index, false, false, true), unix.RTM_NEWLINK)
	if err != nil && !errors.Is(err, unix.EAFNOSUPPORT) {
		return fmt.Errorf("veth %q: set addrgenmode none: %w", name, err)
	}
	return nil
}

// configurePort sets the hairpin and isolated flags and the VLANs of a
// bridge port.
// Equivalent to: `bridge link set dev $l hairpin on isolated on; bridge
// vlan add ...`.
func configurePort(l netlink.Link, p linkPlan) error {
	name := l.Attrs().Name
	if p.Hairpin {
		if err := netlink.LinkSetHairpin(l, true); err != nil {
			return fmt.Errorf("set hairpin on bridge port %q: %w", name, err)
		}
	}
	if p.Isolated {
		if err := netlink.LinkSetIsolated(l, true); err != nil {
			return fmt.Errorf("set isolated on bridge port %q: %w", name, err)
		}
	}
	return setupPortVlans(l, p)
}
