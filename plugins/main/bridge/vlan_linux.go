package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
)

// setupPortVlans applies vlan/vlanTrunk to a bridge port: unless
// preserveDefaultVlan, the bridge's default PVID the port was born with is
// removed; the vlan becomes PVID and untagged; trunk VLANs are tagged; a
// trunk without vlan gets VLAN 1 back as PVID, untagged.
// Equivalent to: `bridge vlan del dev $port vid 1; bridge vlan add dev
// $port vid $vlan pvid untagged; bridge vlan add dev $port vid $trunk`.
func setupPortVlans(port netlink.Link, p linkPlan) error {
	if p.PVID == 0 && len(p.Trunk) == 0 {
		return nil
	}
	name := port.Attrs().Name
	if !p.KeepVlan1 {
		def, err := bridgeDefaultPVID(p.Bridge)
		if err != nil {
			return err
		}
		if def != 0 {
			if err := netlink.BridgeVlanDel(port, def, true, true, false, true); err != nil && !errors.Is(err, syscall.ENOENT) {
				return fmt.Errorf("remove default vlan %d from bridge port %q: %w", def, name, err)
			}
		}
	}
	if p.PVID != 0 {
		if err := netlink.BridgeVlanAdd(port, uint16(p.PVID), true, true, false, true); err != nil {
			return fmt.Errorf("add vlan %d (pvid, untagged) to bridge port %q: %w", p.PVID, name, err)
		}
	}
	for _, vid := range p.Trunk {
		if vid == p.PVID {
			continue
		}
		if err := netlink.BridgeVlanAdd(port, uint16(vid), false, false, false, true); err != nil {
			return fmt.Errorf("add trunk vlan %d to bridge port %q: %w", vid, name, err)
		}
	}
	if p.PVID == 0 {
		// A trunk without vlan keeps VLAN 1 as its native VLAN, as the
		// reference does.
		if err := netlink.BridgeVlanAdd(port, 1, true, true, false, true); err != nil {
			return fmt.Errorf("add native vlan 1 to bridge port %q: %w", name, err)
		}
	}
	return nil
}

// bridgeDefaultPVID reads the bridge's default_pvid (1 unless changed).
func bridgeDefaultPVID(name string) (uint16, error) {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return 0, fmt.Errorf("find bridge %q: %w", name, err)
	}
	if br, ok := l.(*netlink.Bridge); ok && br.VlanDefaultPVID != nil {
		return *br.VlanDefaultPVID, nil
	}
	return 1, nil
}

// vlanGatewayName is the node-side interface that carries the gateway
// address of a VLAN: "<bridge>.<vlan>", as in the reference.
func vlanGatewayName(bridge string, vlan int) string {
	return bridge + "." + strconv.Itoa(vlan)
}

// ensureVlanGateway returns the "<bridge>.<vlan>" interface, creating it
// when missing: a veth whose peer is a bridge port untagged in the VLAN,
// so the gateway address on it answers pods of that VLAN only.
// Equivalent to: `ip link add cni0.10 type veth peer name vgw...; ip link
// set vgw... master cni0 up; bridge vlan add dev vgw... vid 10 pvid
// untagged; ip link set cni0.10 up`.
func ensureVlanGateway(br netlink.Link, p linkPlan) (netlink.Link, error) {
	name := vlanGatewayName(p.Bridge, p.PVID)
	if l, err := netlinksafe.LinkByName(name); err == nil {
		return l, nil
	} else if !isNotFound(err) {
		return nil, fmt.Errorf("find vlan gateway interface %q: %w", name, err)
	}
	sum := sha256.Sum256([]byte(name))
	port := "vgw" + hex.EncodeToString(sum[:4])
	la := netlink.NewLinkAttrs()
	la.Name = name
	la.MTU = br.Attrs().MTU
	la.HardwareAddr = randomMAC()
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: port, PeerHardwareAddr: randomMAC()}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("create vlan gateway interface %q: %w", name, err)
	}
	peer, err := netlinksafe.LinkByName(port)
	if err != nil {
		return nil, fmt.Errorf("find vlan gateway port %q: %w", port, err)
	}
	pp := p
	pp.Trunk, pp.Hairpin, pp.Isolated = nil, false, false
	if err := setupPort(peer, br, pp); err != nil {
		return nil, err
	}
	gw, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find vlan gateway interface %q: %w", name, err)
	}
	if err := ensureSysctl("net/ipv6/conf/"+name+"/accept_ra", "0"); err != nil && !errors.Is(err, syscall.ENOENT) {
		return nil, err
	}
	if err := netlink.LinkSetUp(gw); err != nil {
		return nil, fmt.Errorf("set vlan gateway interface %q up: %w", name, err)
	}
	return gw, nil
}
