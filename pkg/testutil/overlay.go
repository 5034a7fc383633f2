package testutil

import (
	"fmt"
	"net/netip"
	"strconv"
)

// HandPod creates a pod wired by hand to node: a veth pair with hostIf on
// the node holding the subnet's first usable address (the pod's gateway)
// and "eth0" in the pod holding the next one, both with the given MTU, and
// a default route via the gateway. It stands in for bridge + host-local
// when a test exercises only an overlay or a chained plugin.
func HandPod(t TB, node *NetNS, role, hostIf string, subnet netip.Prefix, mtu int) *Pod {
	t.Helper()
	pod := NewPod(t, role)
	gw := subnet.Masked().Addr().Next()
	addr := gw.Next()
	m := strconv.Itoa(mtu)
	node.MustExec(t, "ip", "link", "add", hostIf, "mtu", m, "type", "veth", "peer", "name", "eth0", "mtu", m, "netns", pod.Name)
	node.MustExec(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", gw, subnet.Bits()), "dev", hostIf)
	node.MustExec(t, "ip", "link", "set", hostIf, "up")
	pod.MustExec(t, "ip", "addr", "add", fmt.Sprintf("%s/%d", addr, subnet.Bits()), "dev", "eth0")
	pod.MustExec(t, "ip", "link", "set", "eth0", "up")
	pod.MustExec(t, "ip", "route", "add", "default", "via", gw.String())
	return pod
}
