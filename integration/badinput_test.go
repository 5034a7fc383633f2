package integration

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/podnet/podnet/pkg/testutil"
)

// badCase is one row of a bad-input table: the runtime's environment (the
// valid ADD environment with env applied; an empty value removes the
// variable), the config on stdin, and the CNI error expected: exit status
// 1, error JSON on stdout with this code, and every string of want in its
// message or details.
type badCase struct {
	name  string
	env   map[string]string
	stdin string
	code  uint
	want  []string
}

// badTarget is a plugin under test: its binary, a valid config, and the
// namespaces the run happens in.
type badTarget struct {
	plugin string
	good   string
	node   *testutil.NetNS
	dir    string
	pod    *testutil.Pod
	// knownBugs maps a case name to a reported bug by which the call
	// changes the node: that case then skips (naming the bug) instead of
	// failing on that check alone. Code and message are still checked.
	knownBugs map[string]string
	// entersNetns is false for plugins that never open CNI_NETNS (IPAM,
	// portmap): a bogus netns is not their business.
	entersNetns bool
}

// withKey returns the JSON object conf with key set to value (a Go value,
// marshalled), or removed when value is nil.
func withKey(t *testing.T, conf, key string, value any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(conf), &m); err != nil {
		t.Fatalf("config %s: %v", conf, err)
	}
	if value == nil {
		delete(m, key)
	} else {
		m[key] = value
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// commonBadCases are the rows every plugin answers alike: the framework
// and skel refuse them before the plugin's own code runs.
func commonBadCases(t *testing.T, tg badTarget) []badCase {
	notNS := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(notNS, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a", 2000)
	huge := tg.good[:len(tg.good)-1] + strings.Repeat(" ", 1<<20) + "}"
	cases := []badCase{
		{"malformed JSON", nil, tg.good[:len(tg.good)-3], 6, []string{"network config"}},
		{"no cniVersion", nil, withKey(t, tg.good, "cniVersion", nil), 1, []string{"cniVersion"}},
		{"unknown cniVersion", nil, withKey(t, tg.good, "cniVersion", "9.9.9"), 1, []string{"9.9.9"}},
		{"no network name", nil, withKey(t, tg.good, "name", nil), 7, []string{"network name"}},
		{"network name with ../", nil, withKey(t, tg.good, "name", "../../etc"), 7, []string{"network name", "../../etc"}},
		{"network name with /", nil, withKey(t, tg.good, "name", "a/b"), 7, []string{"network name", "a/b"}},
		{"network name with NUL", nil, withKey(t, tg.good, "name", "a\x00b"), 7, []string{"network name"}},
		{"network name over-long", nil, withKey(t, tg.good, "name", long[:300]), 7, []string{"network name", "longer than 255"}},
		{"unknown CNI_COMMAND", map[string]string{"CNI_COMMAND": "FROB"}, tg.good, 4, []string{"CNI_COMMAND", "FROB"}},
		{"no CNI_CONTAINERID", map[string]string{"CNI_CONTAINERID": ""}, tg.good, 4, []string{"CNI_CONTAINERID"}},
		{"container ID with ../", map[string]string{"CNI_CONTAINERID": "../../x"}, tg.good, 4, []string{"containerID", "../../x"}},
		{"container ID with /", map[string]string{"CNI_CONTAINERID": "a/b"}, tg.good, 4, []string{"containerID", "a/b"}},
		{"container ID over-long", map[string]string{"CNI_CONTAINERID": long}, tg.good, 4, []string{"CNI_CONTAINERID", "longer than 1024"}},
		{"no CNI_NETNS", map[string]string{"CNI_NETNS": ""}, tg.good, 4, []string{"CNI_NETNS"}},
		{"no CNI_IFNAME", map[string]string{"CNI_IFNAME": ""}, tg.good, 4, []string{"CNI_IFNAME"}},
		{"ifname with /", map[string]string{"CNI_IFNAME": "e/0"}, tg.good, 4, []string{"interface name"}},
		{"ifname over-long", map[string]string{"CNI_IFNAME": "eth0123456789abc"}, tg.good, 4, []string{"interface name is too long"}},
		{"no CNI_PATH", map[string]string{"CNI_PATH": ""}, tg.good, 4, []string{"CNI_PATH"}},
		{"oversized stdin", nil, huge, 5, []string{"larger than 1048576 bytes"}},
		{"DEL with container ID ../", map[string]string{"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "../x"}, tg.good, 4, []string{"containerID", "../x"}},
		{"GC with network name ../", map[string]string{"CNI_COMMAND": "GC"}, withKey(t, tg.good, "name", ".."), 7, []string{"network name", ".."}},
	}
	if tg.entersNetns {
		cases = append(cases,
			badCase{"CNI_NETNS is a regular file", map[string]string{"CNI_NETNS": notNS}, tg.good, 4, []string{"CNI_NETNS", notNS}},
			badCase{"CNI_NETNS does not exist", map[string]string{"CNI_NETNS": "/var/run/netns/pnt-no-such-netns"}, tg.good, 4, []string{"/var/run/netns/pnt-no-such-netns"}},
		)
	}
	return cases
}

// nodeSnapshot is everything a refused call must leave alone on the node:
// links, addresses, routes, netfilter state and the files under its dir.
func nodeSnapshot(t *testing.T, node *testutil.NetNS, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, part := range [][]string{node.Links(t), node.Addrs(t), node.Routes(t, "4"), node.Routes(t, "6"), testutil.Files(t, dir)} {
		b.WriteString(strings.Join(part, "\n") + "\n--\n")
	}
	b.WriteString(node.Netfilter(t))
	return b.String()
}

// runBadInput runs every case with the built binary, directly (no libcni),
// in the node namespace, and checks the error and that neither the node
// nor the pod changed.
func runBadInput(t *testing.T, tg badTarget, cases []badCase) {
	bin := testutil.BinDir(t, tg.plugin)
	base := map[string]string{
		"CNI_COMMAND": "ADD", "CNI_CONTAINERID": tg.pod.ContainerID, "CNI_NETNS": tg.pod.Path,
		"CNI_IFNAME": "eth0", "CNI_PATH": bin, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
	}
	for _, tc := range append(commonBadCases(t, tg), cases...) {
		t.Run(tc.name, func(t *testing.T) {
			before := nodeSnapshot(t, tg.node, tg.dir)
			podBefore := append(tg.pod.Links(t), tg.pod.Addrs(t)...)
			var env []string
			for k, v := range base {
				if o, ok := tc.env[k]; ok {
					v = o
				}
				if v != "" {
					env = append(env, k+"="+v)
				}
			}
			for k, v := range tc.env {
				if _, ok := base[k]; !ok && v != "" {
					env = append(env, k+"="+v)
				}
			}
			run := testutil.ExecPlugin(t, tg.node, filepath.Join(bin, tg.plugin), env, []byte(tc.stdin))
			if run.ExitCode != 1 {
				t.Fatalf("exit status %d, want 1; stdout %q stderr %q", run.ExitCode, run.Stdout, run.Stderr)
			}
			e := run.CNIError(t)
			text := e.Msg + " " + e.Details
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("error {%d %q %q} does not name %q", e.Code, e.Msg, e.Details, w)
				}
			}
			if e.Code != tc.code {
				t.Errorf("error {%d %q %q}: code %d, want %d", e.Code, e.Msg, e.Details, e.Code, tc.code)
			}
			if after := nodeSnapshot(t, tg.node, tg.dir); after != before {
				if bug := tg.knownBugs[tc.name]; bug != "" && !t.Failed() {
					t.Skipf("known bug: %s — reported; the node changed:\nbefore:\n%s\nafter:\n%s", bug, before, after)
				}
				t.Errorf("the refused call changed the node:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if after := append(tg.pod.Links(t), tg.pod.Addrs(t)...); !slices.Equal(after, podBefore) {
				t.Errorf("the refused call changed the pod: %v, was %v", after, podBefore)
			}
		})
	}
	t.Run("no CNI_COMMAND with a config is refused, does nothing", func(t *testing.T) {
		before := nodeSnapshot(t, tg.node, tg.dir)
		env := []string{"CNI_CONTAINERID=" + tg.pod.ContainerID, "CNI_NETNS=" + tg.pod.Path, "CNI_IFNAME=eth0", "CNI_PATH=" + bin}
		run := testutil.ExecPlugin(t, tg.node, filepath.Join(bin, tg.plugin), env, []byte(tg.good))
		if e := run.CNIError(t); run.ExitCode != 1 || e.Code != 4 || !strings.Contains(e.Msg, "CNI_COMMAND is not set") {
			t.Fatalf("exit %d error %+v, want exit 1, code 4 naming CNI_COMMAND", run.ExitCode, e)
		}
		if after := nodeSnapshot(t, tg.node, tg.dir); after != before {
			t.Fatalf("changed the node:\n%s\nwas\n%s", after, before)
		}
	})
	t.Run("no CNI_COMMAND and no stdin prints the version, does nothing", func(t *testing.T) {
		before := nodeSnapshot(t, tg.node, tg.dir)
		run := testutil.ExecPlugin(t, tg.node, filepath.Join(bin, tg.plugin), nil, nil)
		// As every CNI plugin (skel): no command and nothing on stdin is a
		// human at a shell, answered with the version on stderr, exit 0.
		if run.ExitCode != 0 || run.Stdout != "" || !strings.Contains(run.Stderr, "CNI protocol versions supported") || !strings.Contains(run.Stderr, "podnet") {
			t.Fatalf("exit %d stdout %q stderr %q, want exit 0, nothing on stdout, podnet and the versions on stderr", run.ExitCode, run.Stdout, run.Stderr)
		}
		if after := nodeSnapshot(t, tg.node, tg.dir); after != before {
			t.Fatalf("changed the node:\n%s\nwas\n%s", after, before)
		}
	})
}

// prevResultFor is a chained plugin's prevResult: the pod's eth0 with addr.
func prevResultFor(pod *testutil.Pod, addr string) map[string]any {
	return map[string]any{
		"cniVersion": "1.1.0",
		"interfaces": []map[string]any{{"name": "eth0", "sandbox": pod.Path}},
		"ips":        []map[string]any{{"address": addr, "interface": 0}},
	}
}

// TestBadInputLoopback: the table for loopback; its one config value that
// can be wrong is a pod whose lo carries a non-loopback address.
func TestBadInputLoopback(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	weird := testutil.NewPod(t, "weird")
	weird.MustExec(t, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
	good := `{"cniVersion":"1.1.0","name":"lo-net","type":"loopback"}`
	tg := badTarget{plugin: "loopback", good: good, node: node.NetNS, dir: node.Dir, pod: pod, entersNetns: true}
	runBadInput(t, tg, []badCase{
		{"lo with a non-loopback address", map[string]string{"CNI_NETNS": weird.Path}, good, 7, []string{"non-loopback address", "10.9.9.9"}},
		{"prevResult not decodable", nil, withKey(t, good, "prevResult", map[string]any{"cniVersion": "1.1.0", "ips": "x"}), 6, []string{"prevResult"}},
	})
}

// TestBadInputHostLocal: the table for host-local, run as IPAM would be.
func TestBadInputHostLocal(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	ipam := func(body string) string {
		return sprintf(`{"cniVersion":"1.1.0","name":"hl-bad","type":"bridge","ipam":{"type":"host-local","dataDir":%q%s}}`, node.Dir, body)
	}
	good := ipam(`,"ranges":[[{"subnet":"10.40.0.0/24"}]]`)
	tg := badTarget{plugin: "host-local", good: good, node: node.NetNS, dir: node.Dir, pod: pod}
	runBadInput(t, tg, []badCase{
		{"no ipam", nil, withKey(t, good, "ipam", nil), 7, []string{`"ipam"`}},
		{"subnet with host bits", nil, ipam(`,"subnet":"10.40.0.1/24"`), 7, []string{"10.40.0.1/24"}},
		{"subnet not a CIDR", nil, ipam(`,"subnet":"10.40.0.0"`), 7, []string{"subnet", "10.40.0.0"}},
		{"rangeStart not an IP", nil, ipam(`,"ranges":[[{"subnet":"10.40.0.0/24","rangeStart":"ten"}]]`), 7, []string{"rangeStart", "ten"}},
		{"rangeEnd outside subnet", nil, ipam(`,"ranges":[[{"subnet":"10.40.0.0/24","rangeEnd":"10.41.0.9"}]]`), 7, []string{"10.41.0.9"}},
		{"overlapping range sets", nil, ipam(`,"ranges":[[{"subnet":"10.40.0.0/24"}],[{"subnet":"10.40.0.0/16"}]]`), 7, []string{"overlaps"}},
		{"no ranges", nil, ipam(``), 7, []string{"no IP ranges"}},
		{"runtimeConfig.ips not an IP", nil, withKey(t, good, "runtimeConfig", map[string]any{"ips": []string{"bogus"}}), 7, []string{"runtimeConfig.ips", "bogus"}},
		{"args.cni.ips not an IP", nil, withKey(t, good, "args", map[string]any{"cni": map[string]any{"ips": []string{"1.2.3"}}}), 7, []string{"args.cni.ips", "1.2.3"}},
		{"CNI_ARGS IP not an IP", map[string]string{"CNI_ARGS": "IP=nope"}, good, 4, []string{"CNI_ARGS", "nope"}},
		{"CNI_ARGS unknown key", map[string]string{"CNI_ARGS": "FOO=bar"}, good, 4, []string{"CNI_ARGS", "FOO"}},
		{"requested IP outside ranges", map[string]string{"CNI_ARGS": "IP=10.99.0.5"}, good, 7, []string{"10.99.0.5"}},
		{"routes not a list", nil, ipam(`,"subnet":"10.40.0.0/24","routes":{"dst":"x"}`), 7, []string{"ipam.routes"}},
		{"GC without an attachment list", map[string]string{"CNI_COMMAND": "GC"}, good, 7, []string{"valid-attachments"}},
	})
}

// TestBadInputBridge: the table for bridge (with host-local).
func TestBadInputBridge(t *testing.T) {
	node := testutil.NewNode(t, "node")
	node.MustExec(t, "ip", "link", "add", "bi-veth", "type", "veth", "peer", "name", "bi-veth-p")
	pod := testutil.NewPod(t, "pod")
	pod.MustExec(t, "ip", "link", "add", "taken0", "type", "veth", "peer", "name", "taken1")
	good := sprintf(`{"cniVersion":"1.1.0","name":"br-bad","type":"bridge","bridge":"cni-bad0","isGateway":true,
		"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.41.0.0/24"}]]}}`, node.Dir)
	good = withKey(t, good, "type", "bridge") // compact
	tg := badTarget{plugin: "bridge", good: good, node: node.NetNS, dir: node.Dir, pod: pod, entersNetns: true}
	runBadInput(t, tg, []badCase{
		{"interface name taken in the pod", map[string]string{"CNI_IFNAME": "taken0"}, good, 4, []string{"taken0", "already exists"}},
		{"bridge name with /", nil, withKey(t, good, "bridge", "a/b"), 7, []string{"bridge", "a/b"}},
		{"bridge name over-long", nil, withKey(t, good, "bridge", "cni-0123456789ab"), 7, []string{"cni-0123456789ab"}},
		{"bridge is not a bridge", nil, withKey(t, good, "bridge", "bi-veth"), 7, []string{"bi-veth", "not a bridge"}},
		{"mtu too small", nil, withKey(t, good, "mtu", 10), 7, []string{"mtu 10"}},
		{"mtu not a number", nil, withKey(t, good, "mtu", "big"), 6, []string{"mtu"}},
		{"vlan out of range", nil, withKey(t, good, "vlan", 4095), 7, []string{"vlan 4095"}},
		{"vlanTrunk half a range", nil, withKey(t, good, "vlanTrunk", []map[string]int{{"minID": 10}}), 7, []string{"vlanTrunk[0]", "minID"}},
		{"hairpin and promisc", nil, withKey(t, withKey(t, good, "hairpinMode", true), "promiscMode", true), 7, []string{"hairpinMode", "promiscMode"}},
		{"ipMasqBackend unknown", nil, withKey(t, withKey(t, good, "ipMasq", true), "ipMasqBackend", "pf"), 7, []string{"ipMasqBackend", "pf"}},
		{"runtimeConfig.mac invalid", nil, withKey(t, good, "runtimeConfig", map[string]any{"mac": "zz:zz"}), 7, []string{"runtimeConfig.mac", "zz:zz"}},
		{"CNI_ARGS MAC multicast", map[string]string{"CNI_ARGS": "IgnoreUnknown=1;MAC=01:00:5e:00:00:01"}, good, 7, []string{"CNI_ARGS MAC", "01:00:5e:00:00:01"}},
		{"ipam subnet invalid", nil, withKey(t, good, "ipam", map[string]any{"type": "host-local", "dataDir": node.Dir, "subnet": "10.41.0.0/33"}), 7, []string{"10.41.0.0/33"}},
	})
}

// TestBadInputPortmap: the table for portmap, chained after a bridge
// result.
func TestBadInputPortmap(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	conf := map[string]any{
		"cniVersion": "1.1.0", "name": "pm-bad", "type": "portmap",
		"runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}},
		"prevResult":    prevResultFor(pod, "10.42.0.5/24"),
	}
	b, _ := json.Marshal(conf)
	good := string(b)
	pm := func(entry map[string]any) string {
		return withKey(t, good, "runtimeConfig", map[string]any{"portMappings": []map[string]any{entry}})
	}
	tg := badTarget{plugin: "portmap", good: good, node: node.NetNS, dir: node.Dir, pod: pod}
	runBadInput(t, tg, []badCase{
		{"no prevResult", nil, withKey(t, good, "prevResult", nil), 7, []string{"prevResult"}},
		{"hostPort 0", nil, pm(map[string]any{"hostPort": 0, "containerPort": 80, "protocol": "tcp"}), 7, []string{"portMappings[0]", "hostPort 0"}},
		{"containerPort too big", nil, pm(map[string]any{"hostPort": 80, "containerPort": 70000, "protocol": "tcp"}), 7, []string{"containerPort 70000"}},
		{"protocol unknown", nil, pm(map[string]any{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}), 7, []string{`protocol "icmp"`}},
		{"hostIP not an IP", nil, pm(map[string]any{"hostPort": 80, "containerPort": 80, "protocol": "tcp", "hostIP": "node1"}), 7, []string{`hostIP "node1"`}},
		{"duplicate mapping", nil, withKey(t, good, "runtimeConfig", map[string]any{"portMappings": []map[string]any{
			{"hostPort": 80, "containerPort": 80, "protocol": "tcp"}, {"hostPort": 80, "containerPort": 81, "protocol": "TCP"}}}), 7, []string{"portMappings[1]", "already mapped"}},
		{"backend unknown", nil, withKey(t, good, "backend", "pf"), 7, []string{"backend", "pf"}},
		{"markMasqBit out of range", nil, withKey(t, good, "markMasqBit", 32), 7, []string{"markMasqBit 32"}},
		{"condition with a verdict", nil, withKey(t, good, "conditionsV4", []string{"ip", "saddr", "10.0.0.1", "accept"}), 7, []string{"conditionsV4[3]", "accept"}},
		{"condition ending the rule", nil, withKey(t, good, "conditionsV4", []string{"ip saddr 10.0.0.1; drop"}), 7, []string{"conditionsV4[0]"}},
		{"iptables condition with a jump", nil, withKey(t, good, "conditionsV4", []string{"-s", "10.0.0.1", "-j", "ACCEPT"}), 7, []string{"conditionsV4[2]", "-j"}},
		{"externalSetMarkChain with blanks", nil, withKey(t, good, "externalSetMarkChain", "A B"), 7, []string{"externalSetMarkChain", "A B"}},
		{"portMappings not a list", nil, withKey(t, good, "runtimeConfig", map[string]any{"portMappings": "8080:80"}), 6, []string{"portMappings"}},
	})
}

// TestBadInputVxlan: the table for vxlan, chained after a result in the
// node's subnet, on a node with an underlay (so a good config would work).
func TestBadInputVxlan(t *testing.T) {
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	pod := testutil.HandPod(t, node.NetNS, "pod", "vx-bad-h", netip.MustParsePrefix("10.43.1.0/24"), 1500)
	before := node.Links(t)
	conf := map[string]any{
		"cniVersion": "1.1.0", "name": "vx-bad", "type": "vxlan", "network": "10.43.0.0/16",
		"dataDir": filepath.Join(node.Dir, "vxlan"), "prevResult": prevResultFor(pod, "10.43.1.2/24"),
		"peers": []map[string]string{{"vtepIP": "192.0.2.11", "subnet": "10.43.2.0/24"}},
	}
	b, _ := json.Marshal(conf)
	good := string(b)
	fifo := filepath.Join(t.TempDir(), "peers.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tg := badTarget{plugin: "vxlan", good: good, node: node.NetNS, dir: node.Dir, pod: pod, entersNetns: true}
	runBadInput(t, tg, []badCase{
		{"cniVersion 0.2.0 unsupported", nil, withKey(t, good, "cniVersion", "0.2.0"), 1, []string{"0.2.0"}},
		{"no network", nil, withKey(t, good, "network", nil), 7, []string{"network is required"}},
		{"network not a CIDR", nil, withKey(t, good, "network", "10.43.0.0"), 7, []string{"network", "10.43.0.0"}},
		{"vni 0", nil, withKey(t, good, "vni", 0), 7, []string{"vni 0"}},
		{"vni too big", nil, withKey(t, good, "vni", 1<<24), 7, []string{"vni 16777216"}},
		{"port too big", nil, withKey(t, good, "port", 70000), 7, []string{"port 70000"}},
		{"device with /", nil, withKey(t, good, "device", "vx/0"), 7, []string{"device", "vx/0"}},
		{"vtepIP not an IP", nil, withKey(t, good, "vtepIP", "node0"), 7, []string{"vtepIP", "node0"}},
		{"mtu too small", nil, withKey(t, good, "mtu", 20), 7, []string{"mtu 20"}},
		{"dataDir relative", nil, withKey(t, good, "dataDir", "var/lib/x"), 7, []string{"dataDir", "var/lib/x"}},
		{"ipMasqBackend unknown", nil, withKey(t, good, "ipMasqBackend", "pf"), 7, []string{"ipMasqBackend", "pf"}},
		{"peer subnet outside network", nil, withKey(t, good, "peers", []map[string]string{{"vtepIP": "192.0.2.11", "subnet": "10.99.2.0/24"}}), 7, []string{"10.99.2.0/24", "outside network"}},
		{"peer vtepIP not unicast", nil, withKey(t, good, "peers", []map[string]string{{"vtepIP": "224.0.0.1", "subnet": "10.43.2.0/24"}}), 7, []string{"peers[0].vtepIP", "224.0.0.1"}},
		{"peersFile missing", nil, withKey(t, good, "peersFile", "/nonexistent/peers.json"), 7, []string{"peersFile", "/nonexistent/peers.json"}},
		{"peersFile is a FIFO", nil, withKey(t, good, "peersFile", fifo), 7, []string{"peersFile", fifo, "not a regular file"}},
		{"subnet disagrees with the pod address", nil, withKey(t, good, "subnet", "10.43.7.0/24"), 7, []string{"10.43.7.0/24", "10.43.1.0/24"}},
		{"no prevResult", nil, withKey(t, good, "prevResult", nil), 7, []string{"prevResult"}},
	})
	if after := node.Links(t); !slices.Equal(after, before) {
		t.Fatalf("node links changed: %v, was %v", after, before)
	}
}
