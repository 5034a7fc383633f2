package netfilter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
)

// HostPort is one host port forwarded to a pod, in one IP family: the
// family of PodIP. HostIP, when valid and not unspecified, has that family
// too.
type HostPort struct {
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string
	// HostIP restricts the mapping to one node address. The zero Addr and
	// 0.0.0.0/:: mean every local address of the node.
	HostIP   netip.Addr
	HostPort uint16
	PodIP    netip.Addr
	PodPort  uint16
}

// AnyHost reports whether the mapping applies to every node address.
func (m HostPort) AnyHost() bool { return !m.HostIP.IsValid() || m.HostIP.IsUnspecified() }

// IsIPv6 reports whether the mapping is in the IPv6 family.
func (m HostPort) IsIPv6() bool { return !m.PodIP.Is4() }

// String renders the mapping as "tcp 192.0.2.10:8080 -> 10.1.0.5:80", with
// "*" for any node address.
func (m HostPort) String() string {
	host := "*"
	if !m.AnyHost() {
		host = m.HostIP.String()
	}
	if m.IsIPv6() && host != "*" {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("%s %s:%d -> %s", m.Protocol, host, m.HostPort, netip.AddrPortFrom(m.PodIP, m.PodPort))
}

// HostPortKey is a mapping as the node knows it before the pod's address:
// protocol, host address (zero or unspecified: any) and host port.
type HostPortKey struct {
	Protocol string
	HostIP   netip.Addr
	HostPort uint16
}

// families lists the IP families the key applies to (false: IPv4).
func (k HostPortKey) families() []bool {
	switch {
	case !k.HostIP.IsValid():
		return []bool{false, true}
	case k.HostIP.Is4():
		return []bool{false}
	}
	return []bool{true}
}

// HostPortOwner identifies the attachment a set of host ports belongs to.
// It is recorded with every element or rule, so DEL and GC find them with
// nothing else: no prevResult, no netns, no mapping list.
type HostPortOwner struct {
	Network     string
	ContainerID string
	IfName      string
}

// Longest parts kept verbatim in a Tag; longer ones are hashed so that a
// tag always fits in an nftables comment (128 bytes).
const (
	hpMaxNetworkInTag = 40
	hpMaxIDInTag      = 64
)

// Tag is the owner's label in netfilter state: "<network>/<ifname>/<id>".
// A network name or container ID too long or with characters unsafe in a
// comment is replaced by "#" and 16 or 32 hex digits of its SHA-256.
func (o HostPortOwner) Tag() string {
	return hpTagNetwork(o.Network) + "/" + o.IfName + "/" + hpTagPart(o.ContainerID, hpMaxIDInTag, 16)
}

// hpTagNetwork is the network part of a tag.
func hpTagNetwork(network string) string { return hpTagPart(network, hpMaxNetworkInTag, 8) }

func hpTagPart(s string, max, hashBytes int) string {
	if len(s) <= max && hpSafe(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "#" + hex.EncodeToString(sum[:hashBytes])
}

// hpSafe reports whether s only has characters CNI allows in network names
// and container IDs, none of which needs quoting in a comment.
func hpSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return s != ""
}

// hpTagOfNetwork reports whether tag belongs to network.
func hpTagOfNetwork(tag, network string) bool {
	n, _, ok := strings.Cut(tag, "/")
	return ok && n == hpTagNetwork(network)
}

// HostPortSpec is everything ADD and CHECK need for one attachment.
type HostPortSpec struct {
	Owner HostPortOwner
	// Mappings of both families. An empty list means nothing to do.
	Mappings []HostPort
	// SNAT masquerades hairpin traffic (the pod reaching itself through a
	// node address) and IPv4 traffic from localhost.
	SNAT bool
	// MasqAll masquerades every forwarded connection, whatever its source.
	MasqAll bool
	// MarkMasqBit is the iptables mark bit (0-31) asking for masquerade.
	MarkMasqBit int
	// ExternalSetMarkChain replaces the iptables mark chain (e.g.
	// KUBE-MARK-MASQ); masquerading is then someone else's job.
	ExternalSetMarkChain string
	// ConditionsV4 and ConditionsV6 are extra match expressions, in the
	// backend's own syntax, that forwarded traffic must also match.
	ConditionsV4, ConditionsV6 []string
	// LocalnetIface is the node interface that routes to the pod's IPv4
	// address. When set, the node's 127.0.0.1:hostPort is forwarded: its
	// route_localnet is turned on, always together with a rule dropping new
	// connections to 127.0.0.0/8 arriving on it (CVE-2020-8558).
	LocalnetIface string
}

// conditions returns the conditions of one family.
func (s *HostPortSpec) conditions(v6 bool) []string {
	if v6 {
		return s.ConditionsV6
	}
	return s.ConditionsV4
}

// families reports which IP families the spec has mappings in.
func (s *HostPortSpec) families() (v4, v6 bool) {
	for _, m := range s.Mappings {
		if m.IsIPv6() {
			v6 = true
		} else {
			v4 = true
		}
	}
	return v4, v6
}

// HostPorts forwards node ports to pods (portmap). Per-pod state is data
// recorded under the owner's Tag; the node-wide scaffolding (tables,
// chains, jumps) is created on demand and removed only by GCHostPorts.
type HostPorts interface {
	// EnsureHostPorts makes spec's mappings the owner's only mappings. A
	// mapping whose host address, port and protocol another owner holds is
	// taken over (the newest pod wins; the old owner is logged). An empty
	// spec.Mappings changes nothing.
	EnsureHostPorts(ctx context.Context, spec HostPortSpec) error
	// CheckHostPorts returns an error naming the first mapping of spec that
	// is missing or points elsewhere, or missing scaffolding.
	CheckHostPorts(ctx context.Context, spec HostPortSpec) error
	// DeleteHostPorts removes every mapping of owner and returns them; the
	// inverse of EnsureHostPorts. keys, the host ports the runtime says
	// the owner has, let a backend find them without reading everything;
	// they are a hint: mappings under other keys are found too. Nothing to
	// remove, an absent table or chain, or a backend whose tools are not
	// installed, is not an error.
	DeleteHostPorts(ctx context.Context, owner HostPortOwner, keys []HostPortKey) ([]HostPort, error)
	// GCHostPorts removes the mappings of every owner of network not in
	// valid, then, when no mapping of any owner is left, the scaffolding,
	// resetting route_localnet where EnsureHostPorts turned it on. It
	// returns the mappings it removed.
	GCHostPorts(ctx context.Context, network string, valid []HostPortOwner) ([]HostPort, error)
}

// DefaultHostPortLockPath serialises node-wide scaffolding changes (GC, and
// the first iptables ADD) against ADD and DEL, across processes.
const DefaultHostPortLockPath = "/run/podnet/hostport.lock"

// NewHostPorts returns the host-port forwarder of a backend (not empty:
// resolve it with Choose first). log receives decisions such as takeovers.
func NewHostPorts(b Backend, log *slog.Logger) (HostPorts, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	switch b {
	case NFTables:
		return &hpNFTables{nft: newHPNFTKernel(), sysctl: hpProcSysctl{root: "/proc/sys"}, lockPath: DefaultHostPortLockPath, log: log}, nil
	case IPTables:
		return &hpIPTables{r: ExecRestorer{}, inUse: hpIPTablesMaybeInUse, sysctl: hpProcSysctl{root: "/proc/sys"}, lockPath: DefaultHostPortLockPath, log: log}, nil
	}
	return nil, fmt.Errorf("unknown netfilter backend %q", b)
}
