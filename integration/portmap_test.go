package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

// pmBackends are the two portmap backends every test runs with.
var pmBackends = []string{"nftables", "iptables"}

// pmNet fills testdata/portmap/bridge-portmap.conflist.
type pmNet struct {
	Version, Name, Bridge, DataDir, Subnet4, Subnet6 string
	// Portmap is extra JSON for the portmap entry, starting with a comma.
	Portmap string
}

func (n pmNet) list(t testing.TB) *libcni.NetworkConfigList {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "portmap", "bridge-portmap.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	if n.Name == "" {
		n.Name = "pm-net"
	}
	if n.Bridge == "" {
		n.Bridge = "cni-pm0"
	}
	if n.Subnet4 == "" {
		n.Subnet4 = "10.244.0.0/16"
	}
	var b bytes.Buffer
	if err := template.Must(template.New("conflist").Parse(string(raw))).Execute(&b, n); err != nil {
		t.Fatal(err)
	}
	return testutil.ConfList(t, b.String())
}

// pmBackendNet is the network of a backend test, dual-stack.
func pmBackendNet(node *testutil.ClusterNode, backend string) pmNet {
	return pmNet{DataDir: node.Dir, Subnet6: "fd00:244::/64", Portmap: fmt.Sprintf(`, "backend": %q`, backend)}
}

// pmCaps is the portMappings capability of a list of
// (hostPort, containerPort, protocol[, hostIP]) entries.
func pmCaps(entries ...[]any) map[string]any {
	var list []map[string]any
	for _, e := range entries {
		m := map[string]any{"hostPort": e[0], "containerPort": e[1], "protocol": e[2]}
		if len(e) > 3 {
			m["hostIP"] = e[3]
		}
		list = append(list, m)
	}
	return map[string]any{"portMappings": list}
}

// pmSeedIPTables makes iptables-nft create the builtin chains portmap's
// scaffolding uses before the "before" snapshot, as on any node running
// kube-proxy or docker: they are iptables' own and remain after GC.
func pmSeedIPTables(t *testing.T, n *testutil.NetNS) {
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, tc := range [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"nat", "POSTROUTING"}, {"filter", "INPUT"}} {
			n.MustExec(t, tool, "-w", "-t", tc[0], "-A", tc[1], "-j", "RETURN")
			n.MustExec(t, tool, "-w", "-t", tc[0], "-D", tc[1], "-j", "RETURN")
		}
	}
}

// pmCluster makes the one-node cluster of a portmap test on backend, with
// the node's iptables tables seeded for the iptables backend.
func pmCluster(t *testing.T, backend string) (*testutil.Cluster, *testutil.ClusterNode) {
	t.Helper()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	if backend == "iptables" {
		pmSeedIPTables(t, node.NetNS)
	}
	return c, node
}

// pmPeer dials addr from ns and returns the source address the pod saw.
func pmPeer(t *testing.T, from *testutil.NetNS, proto, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer, err := testutil.DialRetry(ctx, from, proto, addr)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", proto, addr, from.Name, err)
	}
	return testutil.PeerIP(peer)
}

func pmUnreachable(t *testing.T, from *testutil.NetNS, proto, addr string) {
	t.Helper()
	if peer, err := testutil.Dial(from, proto, addr, 700*time.Millisecond); err == nil {
		t.Fatalf("%s %s from %s was answered (the pod saw %s), want no answer", proto, addr, from.Name, peer)
	}
}

// TestPortmapTraffic is the main path with each backend: a dual-stack pod
// with TCP, UDP and hostIP mappings is reached from another host through
// every node address, from the node through its own address and through
// localhost, and from itself (hairpin); a hostIP mapping is not reached on
// another node address; CHECK passes; DEL removes everything of the pod;
// GC returns the node to its netfilter state before the first ADD.
func TestPortmapTraffic(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c, node := pmCluster(t, backend)
			node.MustExec(t, "ip", "addr", "add", "192.0.2.99/24", "dev", "eth0")
			before := node.Netfilter(t)
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			list := pmBackendNet(node, backend).list(t)
			att, res := addPod(t, rt, list, "pod", pmCaps(
				[]any{8080, 80, "tcp"}, []any{5353, 53, "udp"}, []any{8181, 80, "tcp", node.V4}))
			testutil.StartEcho(t, att.Pod.NetNS, "tcp", "[::]:80")
			testutil.StartEcho(t, att.Pod.NetNS, "udp", "[::]:53")
			gw4 := pmGateway(t, res, false)

			if err := rt.Check(ctx, list, att); err != nil {
				t.Fatalf("CHECK: %v", err)
			}
			for _, tc := range []struct {
				name, proto, addr string
				from              *testutil.NetNS
				want              string
			}{
				{"other host", "tcp", node.V4 + ":8080", c.Outside, testutil.OutsideV4},
				{"other host, second node address", "tcp", "192.0.2.99:8080", c.Outside, testutil.OutsideV4},
				{"other host, hostIP", "tcp", node.V4 + ":8181", c.Outside, testutil.OutsideV4},
				{"other host, UDP", "udp", node.V4 + ":5353", c.Outside, testutil.OutsideV4},
				{"other host, IPv6", "tcp", "[" + node.V6 + "]:8080", c.Outside, testutil.OutsideV6},
				{"other host, IPv6 UDP", "udp", "[" + node.V6 + "]:5353", c.Outside, testutil.OutsideV6},
				{"node via its own address", "tcp", node.V4 + ":8080", node.NetNS, node.V4},
				{"node via localhost", "tcp", "127.0.0.1:8080", node.NetNS, gw4},
				{"hairpin", "tcp", node.V4 + ":8080", att.Pod.NetNS, gw4},
			} {
				if got := pmPeer(t, tc.from, tc.proto, tc.addr); got != tc.want {
					t.Errorf("%s (%s %s): the pod saw %s, want %s", tc.name, tc.proto, tc.addr, got, tc.want)
				}
			}
			pmUnreachable(t, c.Outside, "tcp", "192.0.2.99:8181")

			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			pmUnreachable(t, c.Outside, "tcp", node.V4+":8080")
			if dump := node.Netfilter(t); strings.Contains(dump, att.Pod.ContainerID) {
				t.Fatalf("netfilter still names the pod after DEL:\n%s", dump)
			}
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("second DEL: %v", err)
			}
			if err := rt.GC(ctx, list); err != nil {
				t.Fatalf("GC: %v", err)
			}
			if after := node.Netfilter(t); after != before {
				t.Fatalf("netfilter after DEL and GC differs from before the first ADD:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// pmGateway is the pod's gateway address of a family (the bridge's).
func pmGateway(t *testing.T, r *current.Result, v6 bool) string {
	t.Helper()
	for _, ip := range r.IPs {
		if (ip.Address.IP.To4() == nil) == v6 && ip.Gateway != nil {
			return ip.Gateway.String()
		}
	}
	t.Fatalf("result has no IPv6=%v gateway: %v", v6, r.IPs)
	return ""
}

// TestPortmapUDPRestart: a client keeps sending UDP from one source port to
// a hostPort; the pod behind it is replaced. The old conntrack entry must
// not keep the traffic pinned to the dead pod.
func TestPortmapUDPRestart(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
			node := c.Nodes[0]
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			list := pmBackendNet(node, backend).list(t)
			caps := pmCaps([]any{5353, 53, "udp"})
			client := pmUDPClient(t, c.Outside, 40053)

			first, _ := addPod(t, rt, list, "old", caps)
			srv1 := testutil.StartEcho(t, first.Pod.NetNS, "udp", "0.0.0.0:53")
			if err := client.exchange(node.V4+":5353", 20); err != nil {
				t.Fatalf("first pod: %v", err)
			}
			if err := rt.Del(ctx, list, first); err != nil {
				t.Fatal(err)
			}
			if out := node.MustExec(t, "conntrack", "-L", "-p", "udp", "--orig-port-dst", "5353"); strings.Contains(out, "dport=5353") {
				t.Fatalf("conntrack entries of the hostPort survive DEL:\n%s", out)
			}
			second, _ := addPod(t, rt, list, "new", caps)
			srv2 := testutil.StartEcho(t, second.Pod.NetNS, "udp", "0.0.0.0:53")
			if err := client.exchange(node.V4+":5353", 20); err != nil {
				t.Fatalf("the replacement pod gets no UDP from the same client socket: %v", err)
			}
			if len(srv2.Peers()) == 0 || len(srv1.Peers()) == 0 {
				t.Fatalf("peers: old %v, new %v", srv1.Peers(), srv2.Peers())
			}
			if err := rt.Del(ctx, list, second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// pmUDPSocket is a UDP socket bound to a fixed port in a namespace, so
// that successive datagrams share one conntrack entry.
type pmUDPSocket struct {
	conn net.PacketConn
	ns   *testutil.NetNS
}

func pmUDPClient(t *testing.T, ns *testutil.NetNS, port int) *pmUDPSocket {
	t.Helper()
	s := &pmUDPSocket{ns: ns}
	err := ns.Do(func() error {
		var err error
		s.conn, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	return s
}

// exchange sends a datagram every 100ms until one is answered, at most n
// times.
func (s *pmUDPSocket) exchange(addr string, n int) error {
	to, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		return err
	}
	buf := make([]byte, 512)
	var last error
	for i := 0; i < n; i++ {
		if _, err := s.conn.WriteTo([]byte("ping\n"), to); err != nil {
			return err
		}
		_ = s.conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, _, err := s.conn.ReadFrom(buf); err == nil {
			return nil
		} else {
			last = err
		}
	}
	return fmt.Errorf("no answer from %s after %d datagrams: %w", addr, n, last)
}

// pmEntries counts, per container ID, the lines of the node's netfilter
// dump that name it.
func pmEntries(t *testing.T, n *testutil.NetNS, ids []string) map[string]int {
	dump := n.Netfilter(t)
	out := map[string]int{}
	for _, id := range ids {
		out[id] = strings.Count(dump, id)
	}
	return out
}

// TestPortmapManyPods: 100 pods with mappings, added 50 at a time; a mix
// of concurrent DEL and ADD; every pod has exactly its entries; DEL of all
// leaves nothing of any pod, and GC leaves the node as it was.
func TestPortmapManyPods(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			_, node := pmCluster(t, backend)
			before := node.Netfilter(t)
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			list := pmBackendNet(node, backend).list(t)
			const total = 100
			pods := make([]*testutil.Pod, total)
			for i := range pods {
				pods[i] = testutil.NewPod(t, fmt.Sprintf("p%d", i))
			}
			att := func(i int) testutil.Attachment {
				return testutil.Attachment{Pod: pods[i], IfName: "eth0", Caps: pmCaps([]any{20000 + i, 80, "tcp"}, []any{30000 + i, 53, "udp"})}
			}
			run := func(idx []int, op func(testutil.Attachment) error) {
				t.Helper()
				var wg sync.WaitGroup
				errs := make(chan error, len(idx))
				for _, i := range idx {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := op(att(i)); err != nil {
							errs <- fmt.Errorf("pod %d: %w", i, err)
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if t.Failed() {
					t.FailNow()
				}
			}
			add := func(a testutil.Attachment) error { _, err := rt.Add(ctx, list, a); return err }
			del := func(a testutil.Attachment) error { return rt.Del(ctx, list, a) }
			seq := func(from, to int) []int {
				var out []int
				for i := from; i < to; i++ {
					out = append(out, i)
				}
				return out
			}
			run(seq(0, 50), add)
			// 25 DELs and 50 ADDs at the same time.
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); run(seq(0, 25), del) }()
			go func() { defer wg.Done(); run(seq(50, 100), add) }()
			wg.Wait()
			ids := make([]string, total)
			for i := range ids {
				ids[i] = pods[i].ContainerID
			}
			counts := pmEntries(t, node.NetNS, ids)
			want := counts[ids[25]]
			if want == 0 {
				t.Fatalf("pod 25 has no netfilter entries:\n%s", node.Netfilter(t))
			}
			for i, id := range ids {
				if exp := map[bool]int{true: 0, false: want}[i < 25]; counts[id] != exp {
					t.Errorf("pod %d has %d entries, want %d", i, counts[id], exp)
				}
			}
			for _, i := range []int{25, 60, 99} {
				if err := rt.Check(ctx, list, att(i)); err != nil {
					t.Errorf("CHECK pod %d: %v", i, err)
				}
			}
			run(seq(25, 100), del)
			dump := node.Netfilter(t)
			for id, n := range pmEntries(t, node.NetNS, ids) {
				if n != 0 {
					t.Errorf("container %s still has %d entries after DEL:\n%s", id, n, pmLinesWith(dump, id))
				}
			}
			if err := rt.GC(ctx, list); err != nil {
				t.Fatal(err)
			}
			if after := node.Netfilter(t); after != before {
				t.Fatalf("netfilter after DEL of all and GC differs from before:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// pmLinesWith returns the lines of dump that contain s.
func pmLinesWith(dump, s string) string {
	var out []string
	for _, l := range strings.Split(dump, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// pmExec runs the portmap binary directly in the node, as a runtime would.
func pmExec(t testing.TB, node *testutil.NetNS, cmd, netns, containerID string, conf string, extraEnv ...string) testutil.PluginRun {
	t.Helper()
	bin := filepath.Join(testutil.BinDir(t, "portmap"), "portmap")
	env := append([]string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + containerID, "CNI_NETNS=" + netns, "CNI_IFNAME=eth0",
		"CNI_PATH=/nonexistent", "PATH=" + os.Getenv("PATH")}, extraEnv...)
	return testutil.ExecPlugin(t, node, bin, env, []byte(conf))
}

// pmConf is a portmap config with a hand-written prevResult for 10.1.0.2
// (and fd00:1::2) on eth0 in netns, and the given extra keys.
func pmConf(netns, extra string) string {
	return `{"cniVersion":"1.1.0","name":"pm-direct","type":"portmap"` + extra + `,
		"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"cni0"},{"name":"eth0","sandbox":"` + netns + `"}],
		"ips":[{"address":"10.1.0.2/24","gateway":"10.1.0.1","interface":1},{"address":"fd00:1::2/64","interface":1}]}}`
}

// TestPortmapBadInput: every invalid option or mapping is CNI error 7
// naming it, and nothing reaches netfilter.
func TestPortmapBadInput(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	pm := func(s string) string { return `,"runtimeConfig":{"portMappings":[` + s + `]}` }
	before := node.Netfilter(t)
	for _, tc := range []struct{ name, extra, msg string }{
		{"hostPort 0", pm(`{"hostPort":0,"containerPort":80,"protocol":"tcp"}`), "hostPort 0 out of range 1-65535"},
		{"hostPort too big", pm(`{"hostPort":65536,"containerPort":80,"protocol":"tcp"}`), "portMappings[0] {hostPort: 65536"},
		{"containerPort 0", pm(`{"hostPort":80,"containerPort":0,"protocol":"tcp"}`), "containerPort 0 out of range"},
		{"protocol", pm(`{"hostPort":80,"containerPort":80,"protocol":"gre"}`), `protocol "gre"`},
		{"hostIP", pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp","hostIP":"localhost"}`), `hostIP "localhost" is not an IP address`},
		{"duplicate", pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp"},{"hostPort":80,"containerPort":90,"protocol":"tcp"}`), "already mapped by portMappings[0]"},
		{"markMasqBit", `,"markMasqBit":40` + pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp"}`), "markMasqBit 40"},
		{"markMasqBit and external chain", `,"markMasqBit":14,"externalSetMarkChain":"KUBE-MARK-MASQ"`, "markMasqBit and externalSetMarkChain"},
		{"iptables option on nftables", `,"backend":"nftables","externalSetMarkChain":"KUBE-MARK-MASQ"`, "iptables-specific"},
		{"nftables conditions on iptables", `,"backend":"iptables","conditionsV4":["ip","saddr","1.2.3.4"]`, "nftables expressions"},
		{"unknown backend", `,"backend":"bpf"`, `backend "bpf"`},
		{"condition that acts", `,"conditionsV4":["ip","saddr","1.2.3.4","drop"]`, `conditionsV4[3] "drop"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := pmExec(t, node.NetNS, "ADD", pod.Path, pod.ContainerID, pmConf(pod.Path, tc.extra))
			if run.ExitCode != 1 {
				t.Fatalf("exit %d, want 1; stdout %q", run.ExitCode, run.Stdout)
			}
			if e := run.CNIError(t); e.Code != 7 || !strings.Contains(e.Msg, tc.msg) {
				t.Fatalf("error {%d %q}, want code 7 with %q", e.Code, e.Msg, tc.msg)
			}
		})
	}
	noPrev := `{"cniVersion":"1.1.0","name":"pm-direct","type":"portmap"` + pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp"}`) + `}`
	if e := pmExec(t, node.NetNS, "ADD", pod.Path, pod.ContainerID, noPrev).CNIError(t); e.Code != 7 || !strings.Contains(e.Msg, "prevResult") {
		t.Fatalf("ADD without prevResult: {%d %q}, want code 7 about prevResult", e.Code, e.Msg)
	}
	if after := node.Netfilter(t); after != before {
		t.Fatalf("refused configs changed netfilter:\n%s", after)
	}
}

// TestPortmapNoMappingsNoWork: without mappings ADD and DEL succeed with
// no netfilter tool on PATH, so they cannot have run one.
func TestPortmapNoMappingsNoWork(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	before := node.Netfilter(t)
	for _, cmd := range []string{"ADD", "CHECK", "DEL"} {
		run := pmExec(t, node.NetNS, cmd, pod.Path, pod.ContainerID, pmConf(pod.Path, `,"backend":"nftables"`), "PATH=/nonexistent")
		if run.ExitCode != 0 {
			t.Fatalf("%s without mappings: exit %d, %s %s", cmd, run.ExitCode, run.Stdout, run.Stderr)
		}
		if cmd == "ADD" && !strings.Contains(run.Stdout, `"10.1.0.2/24"`) {
			t.Fatalf("ADD did not pass prevResult through: %s", run.Stdout)
		}
	}
	if after := node.Netfilter(t); after != before {
		t.Fatalf("ADD/DEL without mappings changed netfilter:\n%s", after)
	}
}

// TestPortmapDelEverywhere: DEL needs neither the netns nor prevResult,
// and removes the pod's entries from both backends whatever the config
// says now (a node that switched backend keeps nothing stale).
func TestPortmapDelEverywhere(t *testing.T) {
	for _, added := range pmBackends {
		t.Run("added with "+added, func(t *testing.T) {
			ctx := context.Background()
			c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
			node := c.Nodes[0]
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			list := pmBackendNet(node, added).list(t)
			caps := pmCaps([]any{8080, 80, "tcp"}, []any{5353, 53, "udp"})
			att, _ := addPod(t, rt, list, "pod", caps)
			if !strings.Contains(node.Netfilter(t), att.Pod.ContainerID) {
				t.Fatal("ADD left no entry naming the pod")
			}
			other := map[string]string{"nftables": "iptables", "iptables": "nftables"}[added]
			conf := `{"cniVersion":"1.1.0","name":"pm-net","type":"portmap","backend":"` + other + `",
				"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}}`
			att.Pod.Delete(t)
			run := pmExec(t, node.NetNS, "DEL", att.Pod.Path, att.Pod.ContainerID, conf)
			if run.ExitCode != 0 {
				t.Fatalf("DEL: %s %s", run.Stdout, run.Stderr)
			}
			if dump := node.Netfilter(t); strings.Contains(dump, att.Pod.ContainerID) {
				t.Fatalf("entries of the pod remain after DEL with backend %s:\n%s", other, pmLinesWith(dump, att.Pod.ContainerID))
			}
			pmUnreachable(t, c.Outside, "tcp", node.V4+":8080")
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("DEL through libcni after the netns is gone: %v", err)
			}
		})
	}
}

// TestPortmapCheckAndGC: CHECK notices a mapping someone removed; GC with
// a valid-attachments list removes exactly the others' entries.
func TestPortmapCheckAndGC(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
			node := c.Nodes[0]
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			list := pmBackendNet(node, backend).list(t)
			a, _ := addPod(t, rt, list, "a", pmCaps([]any{8080, 80, "tcp"}))
			b, _ := addPod(t, rt, list, "b", pmCaps([]any{8081, 80, "tcp"}))
			if backend == "nftables" {
				node.MustExec(t, "nft", "flush", "map", "inet", "podnet-hostport", "dnat6_any")
			} else {
				node.MustExec(t, "ip6tables", "-w", "-t", "nat", "-F", "CNI-HOSTPORT-DNAT")
			}
			if err := rt.Check(ctx, list, a); err == nil || !strings.Contains(err.Error(), "8080") {
				t.Fatalf("CHECK after the IPv6 mapping was removed = %v, want an error naming it", err)
			}
			// GC as the runtime sends it when only b is alive, without
			// the cached DEL libcni would run first.
			gc := `{"cniVersion":"1.1.0","name":"pm-net","type":"portmap","cni.dev/valid-attachments":[{"containerID":"` +
				b.Pod.ContainerID + `","ifname":"eth0"}]}`
			if run := pmExec(t, node.NetNS, "GC", "", "", gc); run.ExitCode != 0 {
				t.Fatalf("GC: %s %s", run.Stdout, run.Stderr)
			}
			dump := node.Netfilter(t)
			if strings.Contains(dump, a.Pod.ContainerID) || !strings.Contains(dump, b.Pod.ContainerID) {
				t.Fatalf("after GC keeping b: a present=%v, b present=%v", strings.Contains(dump, a.Pod.ContainerID), strings.Contains(dump, b.Pod.ContainerID))
			}
			testutil.StartEcho(t, b.Pod.NetNS, "tcp", "0.0.0.0:80")
			pmPeer(t, c.Outside, "tcp", node.V4+":8081")
			for _, att := range []testutil.Attachment{a, b} {
				if err := rt.Del(ctx, list, att); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestPortmapStatus: STATUS succeeds where the backend works and is error
// 50 when the configured backend's tools are missing.
func TestPortmapStatus(t *testing.T) {
	node := testutil.NewNode(t, "node")
	for _, backend := range pmBackends {
		conf := `{"cniVersion":"1.1.0","name":"pm-direct","type":"portmap","backend":"` + backend + `"}`
		if run := pmExec(t, node.NetNS, "STATUS", "", "", conf); run.ExitCode != 0 {
			t.Fatalf("STATUS %s: %s %s", backend, run.Stdout, run.Stderr)
		}
		run := pmExec(t, node.NetNS, "STATUS", "", "", conf, "PATH=/nonexistent")
		if e := run.CNIError(t); e.Code != 50 || !strings.Contains(e.Msg, backend) {
			t.Fatalf("STATUS %s without its tools: {%d %q}, want code 50 naming it", backend, e.Code, e.Msg)
		}
	}
}

// pmBenchConf is pod i's config: two mappings of its own and a
// hand-written prevResult (10.1.x.y on eth0), so only portmap runs.
func pmBenchConf(backend string, i int, withPrev bool) string {
	ip := fmt.Sprintf("10.1.%d.%d", i/250, i%250+2)
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"pm-bench","type":"portmap","backend":%q,
		"runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"},{"hostPort":%d,"containerPort":53,"protocol":"udp"}]}`,
		backend, 10000+i, 30000+i)
	if withPrev {
		conf += `,"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/x"}],"ips":[{"address":"` + ip + `/16","interface":0}]}`
	}
	return conf + "}"
}

// BenchmarkPortmap times one portmap ADD and one DEL (the binary, exec'd
// as a runtime does, with a hand-written prevResult) on a node that
// already forwards ports for N pods:
//
//	sudo go test -run '^$' -bench BenchmarkPortmap -benchtime 50x ./integration/
func BenchmarkPortmap(b *testing.B) {
	for _, backend := range pmBackends {
		for _, pods := range []int{10, 100, 250} {
			b.Run(fmt.Sprintf("%s/pods=%d", backend, pods), func(b *testing.B) {
				node := testutil.NewNode(b, "bench")
				node.MustExec(b, "ip", "link", "add", "cni0", "type", "bridge")
				node.MustExec(b, "ip", "addr", "add", "10.1.0.1/16", "dev", "cni0")
				node.MustExec(b, "ip", "link", "set", "cni0", "up")
				exec := func(cmd string, i int) {
					run := pmExec(b, node.NetNS, cmd, "/var/run/netns/x", fmt.Sprintf("bench%d", i), pmBenchConf(backend, i, cmd == "ADD"))
					if run.ExitCode != 0 {
						b.Fatalf("%s pod %d: %s %s", cmd, i, run.Stdout, run.Stderr)
					}
				}
				for i := 0; i < pods; i++ {
					exec("ADD", i)
				}
				var add, del time.Duration
				b.ResetTimer()
				for n := 0; n < b.N; n++ {
					start := time.Now()
					exec("ADD", pods)
					add += time.Since(start)
					start = time.Now()
					exec("DEL", pods)
					del += time.Since(start)
				}
				b.ReportMetric(float64(add.Microseconds())/float64(b.N)/1000, "add-ms")
				b.ReportMetric(float64(del.Microseconds())/float64(b.N)/1000, "del-ms")
			})
		}
	}
}

// TestPortmapVersions: the chain works with every config version a runtime
// sends that has prevResult (0.3.0 on), and portmap passes the result
// through in that version.
func TestPortmapVersions(t *testing.T) {
	ctx := context.Background()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
	for i, v := range []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			list := pmNet{Version: v, DataDir: node.Dir}.list(t)
			pod := testutil.NewPod(t, "pod")
			att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: pmCaps([]any{9000 + i, 80, "tcp"})}
			res, err := rt.Add(ctx, list, att)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			if res.Version() != v {
				t.Fatalf("result version %s, want %s", res.Version(), v)
			}
			testutil.StartEcho(t, pod.NetNS, "tcp", "0.0.0.0:80")
			if got := pmPeer(t, c.Outside, "tcp", fmt.Sprintf("%s:%d", node.V4, 9000+i)); got != testutil.OutsideV4 {
				t.Fatalf("the pod saw %s", got)
			}
			if v != "0.3.0" && v != "0.3.1" {
				if err := rt.Check(ctx, list, att); err != nil {
					t.Fatalf("CHECK: %v", err)
				}
			}
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("DEL: %v", err)
			}
			pmUnreachable(t, c.Outside, "tcp", fmt.Sprintf("%s:%d", node.V4, 9000+i))
		})
	}
}
