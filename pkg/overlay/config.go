package overlay

import (
	"fmt"
	"net/netip"
	"path/filepath"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// Defaults of the configuration keys.
const (
	DefaultVNI     = 1
	DefaultPort    = 4789
	DefaultDataDir = "/var/lib/cni/podnet/vxlan"
	// MaxVNI is the largest VXLAN network identifier (24 bits).
	MaxVNI = 1<<24 - 1
	// OverheadV4 and OverheadV6 are what VXLAN encapsulation costs on an
	// IPv4 and an IPv6 underlay: outer IP (20/40) + UDP 8 + VXLAN 8 + inner
	// Ethernet 14.
	OverheadV4 = 50
	OverheadV6 = 70
	// RouteProtocol marks the routes an overlay installs (`proto 77` in
	// `ip route`), so that routes on the underlay device (directRouting) can
	// be told apart from everybody else's.
	RouteProtocol = 77
)

// Config is one overlay on one node, validated. The field comments name
// the configuration key each one comes from.
type Config struct {
	// Name is the CNI network name; masquerade rules are owned by
	// "vxlan:<Name>".
	Name string
	// VNI is the VXLAN network identifier (vni), 1-16777215.
	VNI uint32
	// Port is the UDP destination port (port).
	Port uint16
	// Device is the VXLAN device name (device), at most 15 characters.
	Device string
	// VTEPIP is this node's underlay address (vtepIP); invalid (the zero
	// Addr) means "resolve it": the address of VTEPDevice, else the source
	// address of the default route.
	VTEPIP netip.Addr
	// VTEPDevice is the underlay interface (vtepDevice); empty means the
	// interface holding VTEPIP, else the default route's.
	VTEPDevice string
	// Network is the cluster network holding every node's subnet (network).
	Network netip.Prefix
	// Subnet is this node's pod subnet (subnet). It may be invalid in a
	// Config under construction; Desired needs it.
	Subnet netip.Prefix
	// Peers are every node's (vtepIP, subnet), this node's entry included
	// or not (peers merged with peersFile).
	Peers []Peer
	// MTU of the device (mtu); 0 means underlay MTU minus the encapsulation
	// overhead.
	MTU int
	// IPMasq masquerades traffic from Network to outside it (ipMasq).
	IPMasq bool
	// MasqBackend is the netfilter backend for IPMasq (ipMasqBackend);
	// empty chooses nftables when usable.
	MasqBackend netfilter.Backend
	// TxChecksumOffload keeps the kernel's default, TX checksum offload on,
	// on the device (txChecksumOffload); false turns tx-checksum-ip-generic
	// off.
	TxChecksumOffload bool
	// DirectRouting routes peers on the underlay's own subnet without
	// encapsulation (directRouting).
	DirectRouting bool
	// DataDir holds the node-local lock files (dataDir).
	DataDir string
}

// MasqOwner is the owner key of the overlay's masquerade rules.
func (c *Config) MasqOwner() string { return "vxlan:" + c.Name }

// LockPath is the file that serializes writers of this overlay's device on
// a node (ADDs running in parallel, `vxlan sync --watch`).
func (c *Config) LockPath() string {
	return filepath.Join(c.DataDir, c.Device+".lock")
}

// Validate checks what can be checked without the kernel: subnet inside
// network, every peer inside network, one family, no overlapping peers, and
// no peer overlapping this node's subnet from another vtepIP (when Subnet
// and VTEPIP are known). Errors are code 7 and name the key and value.
func (c *Config) Validate() error {
	if !c.Network.IsValid() {
		return cniplugin.ConfigErrorf("network is required: the cluster CIDR holding every node's pod subnet")
	}
	if c.Subnet.IsValid() {
		if err := c.checkInNetwork("subnet", c.Subnet); err != nil {
			return err
		}
	}
	if c.MTU != 0 {
		if min := minMTU(c.Network); c.MTU < min || c.MTU > 65535 {
			return cniplugin.ConfigErrorf("mtu %d: want %d-65535 for network %s", c.MTU, min, c.Network)
		}
	}
	for i, p := range c.Peers {
		if err := c.checkInNetwork(fmt.Sprintf("peers[%d].subnet", i), p.Subnet); err != nil {
			return fmt.Errorf("peer %s: %w", p.VTEPIP, err)
		}
	}
	if err := checkPeerOverlaps(c.Peers); err != nil {
		return err
	}
	return c.checkSelf()
}

// checkInNetwork requires p to lie inside the cluster network.
func (c *Config) checkInNetwork(key string, p netip.Prefix) error {
	if p.Addr().Is4() != c.Network.Addr().Is4() {
		return cniplugin.ConfigErrorf("%s %q: not the family of network %s", key, p, c.Network)
	}
	if p.Bits() < c.Network.Bits() || !c.Network.Contains(p.Addr()) {
		return cniplugin.ConfigErrorf("%s %q: outside network %s", key, p, c.Network)
	}
	return nil
}

// checkSelf refuses a peer entry that claims this node's subnet from
// another vtepIP, or this node's vtepIP with another subnet.
func (c *Config) checkSelf() error {
	if !c.Subnet.IsValid() {
		return nil
	}
	for _, p := range c.Peers {
		self := c.VTEPIP.IsValid() && p.VTEPIP == c.VTEPIP
		switch {
		case self && p.Subnet != c.Subnet:
			return cniplugin.ConfigErrorf("peers: entry for this node's vtepIP %s has subnet %s, but this node's subnet is %s", p.VTEPIP, p.Subnet, c.Subnet)
		case !self && p.Subnet.Overlaps(c.Subnet) && c.VTEPIP.IsValid():
			return cniplugin.ConfigErrorf("peers: subnet %s of vtepIP %s overlaps this node's subnet %s (vtepIP %s)", p.Subnet, p.VTEPIP, c.Subnet, c.VTEPIP)
		}
	}
	return nil
}

// minMTU is the smallest MTU the family of network allows.
func minMTU(network netip.Prefix) int {
	if network.Addr().Is4() {
		return 68
	}
	return 1280
}

// FirstAddr returns the first (network) address of p, the address a node's
// VXLAN device holds for its subnet, and the gateway other nodes route the
// subnet through.
func FirstAddr(p netip.Prefix) netip.Addr { return p.Masked().Addr() }

// HostPrefix returns a as a /32 or /128.
func HostPrefix(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }
