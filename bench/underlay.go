package bench

import (
	"fmt"
)

// underlay is a bridge "ul0" in a namespace of its own that node namespaces
// are plugged into, standing for the network between machines.
type underlay struct {
	ns    *NetNS
	ports int
}

// underlayPrefixLen is the prefix length of the node addresses on the
// underlay (192.0.2.0/24, RFC 5737: it exists only inside the namespaces).
const underlayPrefixLen = 24

// underlayAddr is node i's underlay address.
func underlayAddr(i int) string { return fmt.Sprintf("192.0.2.%d", 10+i) }

// newUnderlay creates the underlay namespace and its bridge.
func newUnderlay(nss *Namespaces, role string) (*underlay, error) {
	n, err := nss.Create(role)
	if err != nil {
		return nil, err
	}
	u := &underlay{ns: n}
	for _, args := range [][]string{
		{"link", "add", "ul0", "type", "bridge"},
		{"link", "set", "ul0", "up"},
	} {
		if _, err := n.IP(args...); err != nil {
			return nil, fmt.Errorf("create underlay bridge: %w", err)
		}
	}
	return u, nil
}

// plug connects a node: a veth with "eth0" inside the node holding addr/24,
// the other end a port of ul0; forwarding on in the node.
func (u *underlay) plug(node *Node, addr string) error {
	u.ports++
	port := fmt.Sprintf("ul%d", u.ports)
	steps := []struct {
		ns   *NetNS
		args []string
	}{
		{u.ns, []string{"link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node.NS.Name}},
		{u.ns, []string{"link", "set", port, "master", "ul0", "up"}},
		{node.NS, []string{"addr", "add", fmt.Sprintf("%s/%d", addr, underlayPrefixLen), "dev", "eth0"}},
		{node.NS, []string{"link", "set", "eth0", "up"}},
	}
	for _, s := range steps {
		if _, err := s.ns.IP(s.args...); err != nil {
			return fmt.Errorf("plug %s into the underlay: %w", node.NS.Name, err)
		}
	}
	if _, err := node.NS.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
		return fmt.Errorf("enable forwarding in %s: %w", node.NS.Name, err)
	}
	return nil
}
