package testutil

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Underlay addressing of a Cluster. Documentation prefixes (RFC 5737, RFC
// 3849): they exist only inside the test namespaces.
const (
	UnderlayV4Prefix = "192.0.2.0/24"
	UnderlayV6Prefix = "2001:db8:ffff::/64"
	// OutsideV4 is the "outside world" host on the underlay; nodes use it as
	// their default gateway, and it has no route to any pod network.
	OutsideV4 = "192.0.2.1"
	// OutsideV6 is the IPv6 address of the outside host.
	OutsideV6 = "2001:db8:ffff::1"
)

// ClusterNode is a node of a Cluster: its namespace, its underlay device
// ("eth0") and addresses.
type ClusterNode struct {
	*Node
	// Index counts nodes from 0.
	Index int
	// Dev is the underlay interface inside the node, "eth0".
	Dev string
	// V4 and V6 are the node's underlay addresses (no prefix length).
	V4, V6 string
}

// Cluster is several node namespaces joined by an underlay bridge that lives
// in a namespace of its own, plus an "outside" host on the same underlay.
type Cluster struct {
	// Underlay holds the bridge "ul0" every node's eth0 is plugged into.
	Underlay *NetNS
	Nodes    []*ClusterNode
	// Outside is a host on the underlay (OutsideV4/OutsideV6) that stands for
	// the world beyond the cluster: it routes nothing back to pod networks.
	Outside *NetNS
}

// ClusterOptions tune NewCluster.
type ClusterOptions struct {
	// MTU of the underlay links; 0 means 1500.
	MTU int
}

// NewCluster creates n nodes on one underlay. Node i has 192.0.2.(10+i)/24 and
// 2001:db8:ffff::(10+i)/64 on eth0, forwarding on, and default routes via the
// outside host.
func NewCluster(t TB, n int, opts ClusterOptions) *Cluster {
	t.Helper()
	mtu := opts.MTU
	if mtu == 0 {
		mtu = 1500
	}
	c := &Cluster{Underlay: NewNetNS(t, "underlay")}
	c.Underlay.MustExec(t, "ip", "link", "add", "ul0", "mtu", strconv.Itoa(mtu), "type", "bridge")
	c.Underlay.MustExec(t, "ip", "link", "set", "ul0", "up")
	c.Outside = NewNetNS(t, "outside")
	c.plug(t, c.Outside, "out", mtu, OutsideV4, OutsideV6)
	for i := 0; i < n; i++ {
		node := &ClusterNode{Node: NewNode(t, fmt.Sprintf("node%d", i)), Index: i, Dev: "eth0"}
		node.V4 = addrAt(UnderlayV4Prefix, 10+i)
		node.V6 = addrAt(UnderlayV6Prefix, 10+i)
		c.plug(t, node.NetNS, fmt.Sprintf("n%d", i), mtu, node.V4, node.V6)
		node.MustExec(t, "ip", "route", "add", "default", "via", OutsideV4)
		node.MustExec(t, "ip", "-6", "route", "add", "default", "via", OutsideV6)
		c.Nodes = append(c.Nodes, node)
	}
	return c
}

// plug connects a namespace to the underlay bridge: port name `port` in the
// underlay namespace, "eth0" inside, with the given addresses (DAD off so
// they are usable at once).
func (c *Cluster) plug(t TB, n *NetNS, port string, mtu int, v4, v6 string) {
	t.Helper()
	m := strconv.Itoa(mtu)
	c.Underlay.MustExec(t, "ip", "link", "add", port, "mtu", m, "type", "veth", "peer", "name", "eth0", "mtu", m, "netns", n.Name)
	c.Underlay.MustExec(t, "ip", "link", "set", port, "master", "ul0", "up")
	n.MustExec(t, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=0", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	n.MustExec(t, "ip", "addr", "add", v4+"/24", "dev", "eth0")
	n.MustExec(t, "ip", "addr", "add", v6+"/64", "dev", "eth0", "nodad")
	n.MustExec(t, "ip", "link", "set", "eth0", "up")
}

// addrAt returns the address at offset i inside prefix.
func addrAt(prefix string, i int) string {
	a := netip.MustParsePrefix(prefix).Addr()
	for ; i > 0; i-- {
		a = a.Next()
	}
	return a.String()
}
