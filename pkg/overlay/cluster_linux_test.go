package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/pkg/testutil"
)

// handPod is a pod wired by hand to its node (gateway .1 on the node side,
// address .2 in the pod), standing in for bridge + host-local so the
// overlay's own programming can be tested alone.
func handPod(t *testing.T, node *testutil.ClusterNode, subnet netip.Prefix, mtu int) *testutil.Pod {
	t.Helper()
	host := fmt.Sprintf("vp%d-%d", node.Index, subnet.Addr().As4()[1])
	return testutil.HandPod(t, node.NetNS, fmt.Sprintf("pod%d", node.Index), host, subnet, mtu)
}

// clusterConfig is node i's config of an overlay: subnet <prefix>.i.0/24.
func clusterConfig(c *testutil.Cluster, i int, vni uint32, prefix string, dataDir string) *Config {
	cfg := &Config{
		Name: fmt.Sprintf("ovl%d", vni), VNI: vni, Port: DefaultPort, Device: fmt.Sprintf("podnet.%d", vni),
		Network: netip.MustParsePrefix(prefix + ".0.0/16"),
		Subnet:  netip.MustParsePrefix(fmt.Sprintf("%s.%d.0/24", prefix, i)),
		DataDir: dataDir,
	}
	for j, n := range c.Nodes {
		cfg.Peers = append(cfg.Peers, peer(n.V4, fmt.Sprintf("%s.%d.0/24", prefix, j)))
	}
	return cfg
}

func podIP(prefix string, i int) string { return fmt.Sprintf("%s.%d.2", prefix, i) }

func TestPrivilegedOverlayCluster(t *testing.T) {
	c := testutil.NewCluster(t, 3, testutil.ClusterOptions{})
	var pods []*testutil.Pod
	for i, n := range c.Nodes {
		cfg := clusterConfig(c, i, 1, "10.244", n.Dir)
		ch := reconcileIn(t, n.NetNS, cfg)
		if ch.Underlay.VTEPIP.String() != n.V4 || ch.MTU != 1450 {
			t.Fatalf("node%d: underlay %+v, mtu %d; want vtepIP %s from the default route, mtu 1450", i, ch.Underlay, ch.MTU, n.V4)
		}
		pods = append(pods, handPod(t, n, cfg.Subnet, ch.MTU))
	}
	// Every pod reaches every other pod, and sees the sender's own address.
	for i, p := range pods {
		for j := range pods {
			if i != j {
				testutil.MustPing(t, p.NetNS, podIP("10.244", j))
			}
		}
	}
	testutil.StartEcho(t, pods[2].NetNS, "tcp", "0.0.0.0:7000")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peerAddr, err := testutil.DialRetry(ctx, pods[0].NetNS, "tcp", podIP("10.244", 2)+":7000")
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.PeerIP(peerAddr); got != podIP("10.244", 0) {
		t.Fatalf("pod2 saw %s, want pod0's own address %s", got, podIP("10.244", 0))
	}
	// A full-size packet with DF set crosses the 1450-byte overlay path.
	if err := testutil.PingDF(pods[0].NetNS, podIP("10.244", 1), 1450-28); err != nil {
		t.Fatalf("full-size DF ping over the overlay: %v", err)
	}
	// The node itself reaches remote pods, from its overlay address.
	testutil.MustPing(t, c.Nodes[0].NetNS, podIP("10.244", 1))
	if out := c.Nodes[0].MustExec(t, "ip", "route", "get", podIP("10.244", 1)); !strings.Contains(out, "dev podnet.1 src 10.244.0.0") {
		t.Fatalf("node0's route to pod1 does not use the overlay: %s", out)
	}

	// directRouting: the peers share the underlay /24, so their routes move
	// onto eth0 and traffic still flows (without encapsulation).
	for i, n := range c.Nodes {
		cfg := clusterConfig(c, i, 1, "10.244", n.Dir)
		cfg.DirectRouting = true
		reconcileIn(t, n.NetNS, cfg)
	}
	if out := c.Nodes[0].MustExec(t, "ip", "route", "get", podIP("10.244", 2)); !strings.Contains(out, "via 192.0.2.12 dev eth0") {
		t.Fatalf("directRouting route to pod2: %s", out)
	}
	testutil.MustPing(t, pods[0].NetNS, podIP("10.244", 2))
	if neigh := c.Nodes[0].Neighbors(t); strings.Contains(strings.Join(neigh, "\n"), "podnet.1") {
		t.Fatalf("directRouting left overlay neighbors: %v", neigh)
	}
}

func TestPrivilegedTwoOverlays(t *testing.T) {
	c := testutil.NewCluster(t, 2, testutil.ClusterOptions{})
	pods := map[string][]*testutil.Pod{}
	for _, ov := range []struct {
		vni    uint32
		prefix string
	}{{1, "10.244"}, {2, "10.245"}} {
		for i, n := range c.Nodes {
			cfg := clusterConfig(c, i, ov.vni, ov.prefix, n.Dir)
			ch := reconcileIn(t, n.NetNS, cfg)
			pods[ov.prefix] = append(pods[ov.prefix], handPod(t, n, cfg.Subnet, ch.MTU))
		}
	}
	testutil.MustPing(t, pods["10.244"][0].NetNS, podIP("10.244", 1))
	testutil.MustPing(t, pods["10.245"][1].NetNS, podIP("10.245", 0))
	// Tearing one overlay down leaves the other working.
	err := c.Nodes[0].Do(func() error {
		return (&Reconciler{Kernel: NewNetlinkKernel()}).Teardown(context.Background(), clusterConfig(c, 0, 1, "10.244", c.Nodes[0].Dir))
	})
	if err != nil {
		t.Fatal(err)
	}
	links := strings.Join(c.Nodes[0].LinkNames(t), " ")
	if strings.Contains(links, "podnet.1") || !strings.Contains(links, "podnet.2") {
		t.Fatalf("after tearing down overlay 1, node0 links: %s", links)
	}
	testutil.MustPing(t, pods["10.245"][0].NetNS, podIP("10.245", 1))
	testutil.MustNotPing(t, pods["10.244"][0].NetNS, podIP("10.244", 1))
}

// TestPrivilegedReconcileWaitsForLock proves writers serialize: while the
// overlay's lock is held (as by another ADD or vxlan sync), a Reconcile that
// has work to do writes nothing, and it completes once the lock is free.
func TestPrivilegedReconcileWaitsForLock(t *testing.T) {
	n := kernelNode(t)
	cfg := testConfig()
	cfg.DataDir = n.Dir
	cfg.VTEPIP = netip.Addr{}
	unlock, err := LockFile(cfg.LockPath())
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- n.Do(func() error {
			_, err := (&Reconciler{Kernel: NewNetlinkKernel(), Lock: LockFile}).Reconcile(context.Background(), cfg)
			return err
		})
	}()
	select {
	case err := <-done:
		unlock()
		t.Fatalf("reconcile finished while the lock was held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if strings.Contains(strings.Join(n.LinkNames(t), " "), "podnet.1") {
		unlock()
		t.Fatal("reconcile created the device while the lock was held")
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ch := reconcileIn(t, n.NetNS, cfg); len(ch.Ops) != 0 {
		t.Fatalf("not converged:\n%s", Lines(ch.Ops))
	}
}

// TestPrivilegedIPv6Underlay runs an IPv4 pod network over the cluster's
// IPv6 underlay: the device's local address is the node's IPv6 address,
// the FDB points at the peers' IPv6 addresses, and the MTU pays the IPv6
// overhead (1500 - 70).
func TestPrivilegedIPv6Underlay(t *testing.T) {
	c := testutil.NewCluster(t, 2, testutil.ClusterOptions{})
	var pods []*testutil.Pod
	for i, n := range c.Nodes {
		cfg := clusterConfig(c, i, 1, "10.244", n.Dir)
		cfg.VTEPIP = netip.MustParseAddr(n.V6)
		for j := range cfg.Peers {
			cfg.Peers[j].VTEPIP = netip.MustParseAddr(c.Nodes[j].V6)
		}
		ch := reconcileIn(t, n.NetNS, cfg)
		if ch.MTU != 1430 {
			t.Fatalf("node%d: overlay mtu %d over IPv6, want 1430", i, ch.MTU)
		}
		pods = append(pods, handPod(t, n, cfg.Subnet, ch.MTU))
	}
	if fdb := strings.Join(c.Nodes[0].FDB(t, "podnet.1"), "\n"); !strings.Contains(fdb, "dst "+c.Nodes[1].V6+" self permanent") {
		t.Fatalf("node0 fdb does not point at node1's IPv6 VTEP:\n%s", fdb)
	}
	testutil.MustPing(t, pods[0].NetNS, podIP("10.244", 1))
	if err := testutil.PingDF(pods[1].NetNS, podIP("10.244", 0), 1430-28); err != nil {
		t.Fatalf("full-size DF ping over the IPv6 underlay: %v", err)
	}
}
