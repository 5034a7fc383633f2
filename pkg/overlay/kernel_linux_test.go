package overlay

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/testutil"
)

// kernelNode is a node namespace whose eth0 (one end of a veth pair) holds
// 192.0.2.10/24, like node0 of a testutil cluster, without the cluster.
func kernelNode(t testing.TB) *testutil.Node {
	t.Helper()
	n := testutil.NewNode(t, "ovl")
	n.MustExec(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ul-peer")
	n.MustExec(t, "ip", "addr", "add", "192.0.2.10/24", "dev", "eth0")
	n.MustExec(t, "ip", "link", "set", "ul-peer", "up")
	n.MustExec(t, "ip", "link", "set", "eth0", "up")
	n.MustExec(t, "ip", "route", "add", "default", "via", "192.0.2.1")
	return n
}

// reconcileIn runs Reconcile with the netlink kernel inside the node.
func reconcileIn(t *testing.T, n *testutil.NetNS, cfg *Config) *Change {
	t.Helper()
	var ch *Change
	err := n.Do(func() error {
		var err error
		ch, err = (&Reconciler{Kernel: NewNetlinkKernel(), Lock: LockFile}).Reconcile(context.Background(), cfg)
		return err
	})
	if err != nil {
		t.Fatalf("reconcile in %s: %v", n.Name, err)
	}
	return ch
}

func overlayLines(t *testing.T, n *testutil.NetNS) string {
	t.Helper()
	var lines []string
	for _, l := range n.Routes(t, "4") {
		if strings.Contains(l, "10.244.") {
			lines = append(lines, "route "+l)
		}
	}
	neighs := n.Neighbors(t)
	slices.Sort(neighs)
	for _, l := range neighs {
		if strings.Contains(l, "podnet.1") {
			lines = append(lines, "neigh "+l)
		}
	}
	fdb := n.FDB(t, "podnet.1")
	slices.Sort(fdb) // the kernel lists FDB entries by hash
	for _, l := range fdb {
		lines = append(lines, "fdb "+l)
	}
	for _, l := range n.Addrs(t) {
		if strings.HasPrefix(l, "podnet.1 inet ") {
			lines = append(lines, "addr "+l)
		}
	}
	return strings.Join(lines, "\n")
}

func TestPrivilegedNetlinkKernel(t *testing.T) {
	n := kernelNode(t)
	cfg := testConfig()
	cfg.DataDir = n.Dir
	cfg.VTEPIP = netip.Addr{} // from the default route
	ch := reconcileIn(t, n.NetNS, cfg)
	if len(ch.Ops) != 10 || ch.Underlay.Device != "eth0" || ch.Underlay.VTEPIP.String() != "192.0.2.10" {
		t.Fatalf("first reconcile: %d ops on %+v", len(ch.Ops), ch.Underlay)
	}
	link := n.MustExec(t, "ip", "-d", "link", "show", "podnet.1")
	for _, want := range []string{"mtu 1450", "link/ether 0e:2a:c0:00:02:0a", "vxlan id 1 local 192.0.2.10 dev eth0", "dstport 4789", "nolearning", "state UNKNOWN"} {
		if !strings.Contains(link, want) {
			t.Errorf("ip -d link show podnet.1 lacks %q:\n%s", want, link)
		}
	}
	if off := n.MustExec(t, "ethtool", "-k", "podnet.1"); !strings.Contains(off, "tx-checksum-ip-generic: off") {
		t.Errorf("tx checksum offload not turned off:\n%s", off)
	}
	golden(t, "kernel state", overlayLines(t, n.NetNS), `
route 10.244.1.0/24 via 10.244.1.0 dev podnet.1 proto 77 onlink
route 10.244.2.0/24 via 10.244.2.0 dev podnet.1 proto 77 onlink
neigh 10.244.1.0 dev podnet.1 lladdr 0e:2a:c0:00:02:0b PERMANENT
neigh 10.244.2.0 dev podnet.1 lladdr 0e:2a:c0:00:02:0c PERMANENT
fdb 0e:2a:c0:00:02:0b dst 192.0.2.11 self permanent
fdb 0e:2a:c0:00:02:0c dst 192.0.2.12 self permanent
addr podnet.1 inet 10.244.0.0/32
`)
	if ch := reconcileIn(t, n.NetNS, cfg); len(ch.Ops) != 0 {
		t.Fatalf("second reconcile wrote:\n%s", Lines(ch.Ops))
	}

	// Drift is named by Check and repaired by Reconcile.
	n.MustExec(t, "ip", "link", "set", "podnet.1", "mtu", "1400")
	n.MustExec(t, "ip", "route", "del", "10.244.2.0/24")
	n.MustExec(t, "ethtool", "-K", "podnet.1", "tx-checksum-ip-generic", "on")
	err := n.Do(func() error { return (&Reconciler{Kernel: NewNetlinkKernel()}).Check(context.Background(), cfg) })
	want := `check overlay "podnet.1": device podnet.1: mtu 1400, want 1450; device podnet.1: tx-checksum-ip-generic on, want off; route 10.244.2.0/24 missing`
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v\nwant %s", err, want)
	}
	if ch := reconcileIn(t, n.NetNS, cfg); len(ch.Ops) != 3 {
		t.Fatalf("repair ops:\n%s", Lines(ch.Ops))
	}

	// Peer changes: node2 leaves, node3 joins.
	cfg.Peers = MergePeers([]Peer{peer("192.0.2.10", "10.244.0.0/24"), peer("192.0.2.11", "10.244.1.0/24"), peer("192.0.2.13", "10.244.3.0/24")})
	reconcileIn(t, n.NetNS, cfg)
	golden(t, "kernel state after peer change", overlayLines(t, n.NetNS), `
route 10.244.1.0/24 via 10.244.1.0 dev podnet.1 proto 77 onlink
route 10.244.3.0/24 via 10.244.3.0 dev podnet.1 proto 77 onlink
neigh 10.244.1.0 dev podnet.1 lladdr 0e:2a:c0:00:02:0b PERMANENT
neigh 10.244.3.0 dev podnet.1 lladdr 0e:2a:c0:00:02:0d PERMANENT
fdb 0e:2a:c0:00:02:0b dst 192.0.2.11 self permanent
fdb 0e:2a:c0:00:02:0d dst 192.0.2.13 self permanent
addr podnet.1 inet 10.244.0.0/32
`)

	// A changed VNI recreates the device; directRouting moves node1 onto eth0.
	cfg.VNI, cfg.DirectRouting = 7, true
	reconcileIn(t, n.NetNS, cfg)
	if link := n.MustExec(t, "ip", "-d", "link", "show", "podnet.1"); !strings.Contains(link, "vxlan id 7 ") {
		t.Fatalf("device not recreated with vni 7:\n%s", link)
	}
	golden(t, "kernel state with directRouting", overlayLines(t, n.NetNS), `
route 10.244.1.0/24 via 192.0.2.11 dev eth0 proto 77
route 10.244.3.0/24 via 192.0.2.13 dev eth0 proto 77
addr podnet.1 inet 10.244.0.0/32
`)

	// The underlay is deleted and recreated (a new ifindex): the device,
	// gone with it or bound to a dead index, is recreated on the new one.
	n.MustExec(t, "ip", "link", "del", "eth0")
	n.MustExec(t, "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "ul-peer")
	n.MustExec(t, "ip", "addr", "add", "192.0.2.10/24", "dev", "eth0")
	n.MustExec(t, "ip", "link", "set", "ul-peer", "up")
	n.MustExec(t, "ip", "link", "set", "eth0", "up")
	n.MustExec(t, "ip", "route", "replace", "default", "via", "192.0.2.1")
	reconcileIn(t, n.NetNS, cfg)
	if link := n.MustExec(t, "ip", "-d", "link", "show", "podnet.1"); !strings.Contains(link, "local 192.0.2.10 dev eth0") {
		t.Fatalf("device not bound to the new underlay:\n%s", link)
	}
	if ch := reconcileIn(t, n.NetNS, cfg); len(ch.Ops) != 0 {
		t.Fatalf("not converged after the underlay came back:\n%s", Lines(ch.Ops))
	}
}
