package integration

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/pkg/testutil"
)

// TestHarnessCluster exercises the multi-node helper: nodes reach each other
// and the outside host over the underlay (v4 and v6), a TCP echo server sees
// the caller's own address, and every namespace is gone after the subtest.
func TestHarnessCluster(t *testing.T) {
	var names []string
	t.Run("cluster", func(t *testing.T) {
		c := testutil.NewCluster(t, 3, testutil.ClusterOptions{})
		names = append(names, c.Underlay.Name, c.Outside.Name)
		for _, n := range c.Nodes {
			names = append(names, n.Name)
			for _, m := range c.Nodes {
				if n == m {
					continue
				}
				testutil.MustPing(t, n.NetNS, m.V4)
				testutil.MustPing(t, n.NetNS, m.V6)
			}
			testutil.MustPing(t, n.NetNS, testutil.OutsideV4)
		}
		srv := testutil.StartEcho(t, c.Nodes[1].NetNS, "tcp", "0.0.0.0:7777")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		peer, err := testutil.DialRetry(ctx, c.Nodes[0].NetNS, "tcp", c.Nodes[1].V4+":7777")
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.PeerIP(peer); got != c.Nodes[0].V4 {
			t.Fatalf("server saw %s, want node0's %s", got, c.Nodes[0].V4)
		}
		if len(srv.Peers()) != 1 {
			t.Fatalf("server peers = %v, want one", srv.Peers())
		}
		udp := testutil.StartEcho(t, c.Outside, "udp", "[::]:7778")
		peer, err = testutil.DialRetry(ctx, c.Nodes[2].NetNS, "udp", "["+testutil.OutsideV6+"]:7778")
		if err != nil {
			t.Fatal(err)
		}
		if got := testutil.PeerIP(peer); got != c.Nodes[2].V6 {
			t.Fatalf("outside saw %s over UDP, want node2's %s", got, c.Nodes[2].V6)
		}
		_ = udp
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.Contains(string(out), n) {
			t.Errorf("namespace %s left behind after the test", n)
		}
	}
}

// TestHarnessNetfilterDump checks that the netfilter dump sees a rule added
// in the node and not one in another namespace.
func TestHarnessNetfilterDump(t *testing.T) {
	a := testutil.NewNode(t, "a")
	b := testutil.NewNode(t, "b")
	before := a.Netfilter(t)
	b.MustExec(t, "nft", "add", "table", "inet", "podnet_harness_probe")
	if a.Netfilter(t) != before {
		t.Fatal("a rule added in node b shows up in node a")
	}
	a.MustExec(t, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "10.99.0.0/16", "-j", "MASQUERADE")
	after := a.Netfilter(t)
	if after == before || !strings.Contains(after, "-A POSTROUTING -s 10.99.0.0/16 -j MASQUERADE") {
		t.Fatalf("dump after adding a rule:\n%s", after)
	}
}
