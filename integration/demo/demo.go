// Package demo is `make demo`: a three-node pod network on one machine,
// built by podnet's binaries through libcni exactly as containerd would call
// them, then checked, torn down and proven clean. The integration test runs
// the same code, so the demo cannot break silently.
package demo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"

	"github.com/podnet/podnet/pkg/testutil"
)

// Options tune Run.
type Options struct {
	// Nodes and PodsPerNode size the cluster; 0 means 3 and 2.
	Nodes, PodsPerNode int
	// Keep leaves the cluster up after the checks instead of tearing it down.
	Keep bool
}

// Cluster addressing: node i owns 10.244.(i+1).0/24 of 10.244.0.0/16.
const (
	clusterCIDR = "10.244.0.0/16"
	netName     = "podnet-demo"
	hostPort    = 8080
	podPort     = 80
	outsidePort = 9000
)

// demoPod is one pod the demo started.
type demoPod struct {
	name string
	node *demoNode
	pod  *testutil.Pod
	att  testutil.Attachment
	ip   string
	mtu  string
	echo *testutil.EchoServer
}

// demoNode is one node with its runtime and conflist.
type demoNode struct {
	*testutil.ClusterNode
	label   string // "node0"; the namespace name is longer
	subnet  string
	netDir  string
	dataDir string
	list    *libcni.NetworkConfigList
	rt      *testutil.Runtime
	pods    []*demoPod
	before  string // netfilter state before the first ADD
}

// step prints a progress line and runs fn, timing it.
func step(w io.Writer, n *int, total int, what string, fn func() error) error {
	*n++
	fmt.Fprintf(w, "[%d/%d] %-58s", *n, total, what+" ...")
	start := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintf(w, " FAILED\n")
		return fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(w, " ok (%.1fs)\n", time.Since(start).Seconds())
	return nil
}

// Run builds the cluster, shows what podnet does, tears it all down and
// proves nothing is left. It returns the first failure with what was seen.
func Run(t testutil.TB, w io.Writer, opts Options) error {
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.PodsPerNode == 0 {
		opts.PodsPerNode = 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	total := 9
	if opts.Keep {
		total = 7
	}
	fmt.Fprintf(w, "podnet demo: %d nodes x %d pods; bridge + host-local + vxlan + portmap through libcni\n\n", opts.Nodes, opts.PodsPerNode)
	var (
		n     int
		c     *testutil.Cluster
		nodes []*demoNode
		pods  []*demoPod
	)
	steps := []struct {
		what string
		fn   func() error
	}{
		{fmt.Sprintf("create %d node namespaces on an underlay bridge", opts.Nodes), func() error {
			c = testutil.NewCluster(t, opts.Nodes, testutil.ClusterOptions{})
			var err error
			nodes, err = writeConfLists(t, c)
			return err
		}},
		{fmt.Sprintf("ADD %d pods (portMappings on the first of each node)", opts.Nodes*opts.PodsPerNode), func() error {
			var err error
			pods, err = addPods(ctx, t, nodes, opts.PodsPerNode)
			return err
		}},
	}
	for _, s := range steps {
		if err := step(w, &n, total, s.what, s.fn); err != nil {
			return err
		}
	}
	printPods(w, pods)
	checks := []struct {
		what string
		fn   func() error
	}{
		{"ping every pod from every pod", func() error { return pingMatrix(w, pods) }},
		{"TCP across nodes keeps the sender's address (no NAT)", func() error { return noNAT(ctx, w, nodes) }},
		{fmt.Sprintf("hostPort %d reached from another node", hostPort), func() error { return hostPortCheck(ctx, w, nodes) }},
		{"pod to outside is masqueraded to the node address", func() error { return outsideCheck(ctx, w, t, c, nodes) }},
		{"CHECK and STATUS on every attachment", func() error { return checkAll(ctx, nodes, pods) }},
	}
	for _, s := range checks {
		if err := step(w, &n, total, s.what, s.fn); err != nil {
			return err
		}
	}
	if opts.Keep {
		printKeep(w, nodes, pods)
		return nil
	}
	teardown := []struct {
		what string
		fn   func() error
	}{
		{"DEL every pod, then GC every node", func() error { return delAll(ctx, nodes, pods) }},
		{"prove nothing is left on the nodes", func() error { return provePristine(w, t, nodes) }},
	}
	for _, s := range teardown {
		if err := step(w, &n, total, s.what, s.fn); err != nil {
			return err
		}
	}
	return nil
}

// writeConfLists writes each node's conflist into its own net.d and loads it
// the way a runtime does (libcni.ConfListFromFile).
func writeConfLists(t testutil.TB, c *testutil.Cluster) ([]*demoNode, error) {
	var nodes []*demoNode
	var peers []string
	for i, cn := range c.Nodes {
		peers = append(peers, fmt.Sprintf(`{"vtepIP": %q, "subnet": "10.244.%d.0/24"}`, cn.V4, i+1))
	}
	for i, cn := range c.Nodes {
		dn := &demoNode{ClusterNode: cn, label: fmt.Sprintf("node%d", i), subnet: fmt.Sprintf("10.244.%d.0/24", i+1)}
		dn.netDir = filepath.Join(cn.Dir, "net.d")
		dn.dataDir = filepath.Join(cn.Dir, "data")
		path := filepath.Join(dn.netDir, "10-podnet.conflist")
		if err := writeFile(path, nodeConfList(dn, peers)); err != nil {
			return nil, err
		}
		list, err := libcni.ConfListFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
		dn.list = list
		dn.rt = testutil.NewRuntime(t, cn.Node, "bridge", "host-local", "vxlan", "portmap", "loopback")
		dn.before = cn.Netfilter(t)
		nodes = append(nodes, dn)
	}
	return nodes, nil
}

// nodeConfList is the conflist of one node: the shape of
// conf/10-podnet-overlay.conflist with this node's subnet and private dirs.
func nodeConfList(n *demoNode, peers []string) string {
	return fmt.Sprintf(`{
  "cniVersion": "1.1.0",
  "name": %q,
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true,
     "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q}]]}},
    {"type": "vxlan", "vni": 1, "network": %q, "ipMasq": true, "dataDir": %q,
     "peers": [%s]},
    {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true}
  ]
}
`, netName, filepath.Join(n.dataDir, "ipam"), n.subnet, clusterCIDR, filepath.Join(n.dataDir, "vxlan"), strings.Join(peers, ", "))
}
