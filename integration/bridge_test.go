package integration

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/testutil"
)

// bridgeNet describes a bridge+host-local conflist for a test.
type bridgeNet struct {
	Version string
	Name    string
	// Bridge keys merged into the bridge plugin object.
	Bridge map[string]any
	// Ranges are host-local range sets; none means L2 mode.
	Ranges [][]map[string]any
	// Routes for host-local.
	Routes []map[string]any
}

// conflist renders the network with host-local's dataDir in dir.
func (b bridgeNet) conflist(t *testing.T, dir string) *libcni.NetworkConfigList {
	t.Helper()
	if b.Version == "" {
		b.Version = "1.1.0"
	}
	if b.Name == "" {
		b.Name = "podnet-br"
	}
	plugin := map[string]any{"type": "bridge", "bridge": "cni0"}
	for k, v := range b.Bridge {
		plugin[k] = v
	}
	if len(b.Ranges) > 0 {
		ipam := map[string]any{"type": "host-local", "dataDir": dir, "ranges": b.Ranges}
		if b.Routes != nil {
			ipam["routes"] = b.Routes
		}
		plugin["ipam"] = ipam
	}
	raw, err := json.Marshal(map[string]any{"cniVersion": b.Version, "name": b.Name, "plugins": []any{plugin}})
	if err != nil {
		t.Fatal(err)
	}
	return testutil.ConfList(t, string(raw))
}

func v4Range(subnet string) [][]map[string]any {
	return [][]map[string]any{{{"subnet": subnet}}}
}

// addPod runs ADD for a new pod and returns it with its result.
func addPod(t *testing.T, rt *testutil.Runtime, list *libcni.NetworkConfigList, role string, caps map[string]any) (testutil.Attachment, *current.Result) {
	t.Helper()
	pod := testutil.NewPod(t, role)
	att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: caps}
	res, err := rt.Add(context.Background(), list, att)
	if err != nil {
		t.Fatalf("ADD %s: %v", role, err)
	}
	r, err := current.GetResult(res)
	if err != nil {
		t.Fatal(err)
	}
	return att, r
}

func podIP(t *testing.T, r *current.Result, v6 bool) string {
	t.Helper()
	for _, ip := range r.IPs {
		if (ip.Address.IP.To4() == nil) == v6 {
			return ip.Address.IP.String()
		}
	}
	t.Fatalf("result has no IPv6=%v address: %v", v6, r.IPs)
	return ""
}

// vethsOn returns the node's veth links.
func vethsOn(t *testing.T, n *testutil.NetNS) []string {
	var out []string
	for _, l := range n.LinkNames(t) {
		if strings.HasPrefix(l, "veth") {
			out = append(out, l)
		}
	}
	return out
}

// reservations lists host-local's reservation files for the network: the
// ones named after an address.
func reservations(t *testing.T, dir, network string) []string {
	var out []string
	for _, f := range testutil.Files(t, dir+"/"+network) {
		if net.ParseIP(f) != nil {
			out = append(out, f)
		}
	}
	return out
}

// TestBridgeL3 is the main path: two pods on one bridge with a default
// gateway, masquerade, hairpin and a custom MTU; result, pod-to-pod and
// pod-to-gateway traffic, CHECK, DEL, GC, and nothing left behind.
func TestBridgeL3(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true, "hairpinMode": true, "mtu": 1400},
		Ranges: v4Range("10.22.0.0/24"),
	}.conflist(t, node.Dir)
	netfilterBefore := node.Netfilter(t)

	a, ra := addPod(t, rt, list, "pod-a", nil)
	b, rb := addPod(t, rt, list, "pod-b", nil)

	if n := len(ra.Interfaces); n != 3 {
		t.Fatalf("result has %d interfaces, want bridge, host veth, pod: %v", n, ra.Interfaces)
	}
	br, host, pod := ra.Interfaces[0], ra.Interfaces[1], ra.Interfaces[2]
	if br.Name != "cni0" || pod.Name != "eth0" || pod.Sandbox != a.Pod.Path || !strings.HasPrefix(host.Name, "veth") {
		t.Fatalf("result interfaces = %v %v %v", br, host, pod)
	}
	for _, i := range ra.Interfaces {
		if i.Mtu != 1400 {
			t.Errorf("result interface %s mtu %d, want 1400", i.Name, i.Mtu)
		}
	}
	if len(ra.IPs) != 1 || *ra.IPs[0].Interface != 2 || ra.IPs[0].Gateway.String() != "10.22.0.1" {
		t.Fatalf("result ips = %v", ra.IPs)
	}
	if len(ra.Routes) != 1 || ra.Routes[0].Dst.String() != "0.0.0.0/0" || ra.Routes[0].GW.String() != "10.22.0.1" {
		t.Fatalf("result routes = %v", ra.Routes)
	}
	if got := a.Pod.MustExec(t, "ip", "-o", "link", "show", "eth0"); !strings.Contains(got, "mtu 1400") || !strings.Contains(got, pod.Mac) {
		t.Fatalf("pod eth0 = %s, want mtu 1400 and MAC %s", got, pod.Mac)
	}
	if got := node.MustExec(t, "ip", "-o", "link", "show", host.Name); !strings.Contains(got, "mtu 1400") || !strings.Contains(got, "master cni0") {
		t.Fatalf("host veth = %s, want mtu 1400 master cni0", got)
	}
	if got := node.MustExec(t, "bridge", "-d", "link", "show", "dev", host.Name); !strings.Contains(got, "hairpin on") {
		t.Fatalf("bridge port %s: %s, want hairpin on", host.Name, got)
	}
	if got := a.Pod.Routes(t, "4"); !slices.Contains(got, "default via 10.22.0.1 dev eth0") {
		t.Fatalf("pod routes = %v, want the default route via the gateway", got)
	}
	if got := node.Sysctl(t, "net/ipv6/conf/cni0/accept_ra"); got != "0" {
		t.Fatalf("cni0 accept_ra = %s, want 0", got)
	}
	if got := node.Sysctl(t, "net/ipv6/conf/"+host.Name+"/accept_ra"); got != "0" {
		t.Fatalf("%s accept_ra = %s, want 0", host.Name, got)
	}
	if got := node.Sysctl(t, "net/ipv4/ip_forward"); got != "1" {
		t.Fatalf("ip_forward = %s, want 1", got)
	}
	testutil.MustPing(t, a.Pod.NetNS, podIP(t, rb, false))
	testutil.MustPing(t, b.Pod.NetNS, podIP(t, ra, false))
	testutil.MustPing(t, a.Pod.NetNS, "10.22.0.1")

	for _, att := range []testutil.Attachment{a, b} {
		if err := rt.Check(ctx, list, att); err != nil {
			t.Fatalf("CHECK: %v", err)
		}
	}
	if err := rt.Status(ctx, list); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	for _, att := range []testutil.Attachment{a, b, a} {
		if err := rt.Del(ctx, list, att); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("veths left after DEL: %v", v)
	}
	if r := reservations(t, node.Dir, "podnet-br"); len(r) != 0 {
		t.Fatalf("IPAM reservations left after DEL: %v", r)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := node.Netfilter(t); got != netfilterBefore {
		t.Fatalf("netfilter state after DEL+GC differs from before ADD:\nbefore:\n%s\nafter:\n%s", netfilterBefore, got)
	}
}

// TestBridgeMasquerade: traffic leaving the subnet reaches the outside
// host from the node's address; traffic within the subnet keeps the pod's.
func TestBridgeMasquerade(t *testing.T) {
	ctx := context.Background()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true},
		Ranges: v4Range("10.23.0.0/24"),
	}.conflist(t, node.Dir)
	a, ra := addPod(t, rt, list, "pod-a", nil)
	b, rb := addPod(t, rt, list, "pod-b", nil)

	testutil.StartEcho(t, c.Outside, "tcp", "0.0.0.0:7000")
	seen, err := testutil.DialRetry(ctx, a.Pod.NetNS, "tcp", testutil.OutsideV4+":7000")
	if err != nil {
		t.Fatalf("pod to outside: %v", err)
	}
	if got := testutil.PeerIP(seen); got != node.V4 {
		t.Fatalf("outside saw %s, want the node address %s (masquerade)", got, node.V4)
	}
	testutil.StartEcho(t, b.Pod.NetNS, "tcp", "0.0.0.0:7001")
	seen, err = testutil.DialRetry(ctx, a.Pod.NetNS, "tcp", podIP(t, rb, false)+":7001")
	if err != nil {
		t.Fatalf("pod to pod: %v", err)
	}
	if got, want := testutil.PeerIP(seen), podIP(t, ra, false); got != want {
		t.Fatalf("pod b saw %s, want pod a's own address %s (no masquerade within the subnet)", got, want)
	}
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	// CHECK sees the masquerade rules go.
	node.MustExec(t, "nft", "flush", "chain", "inet", "podnet-masquerade", "postrouting")
	if err := rt.Check(ctx, list, a); err == nil || !strings.Contains(err.Error(), "masquerade") {
		t.Fatalf("CHECK with the masquerade chain flushed = %v, want an error about masquerade", err)
	}
}

// TestBridgeDualStack: one IPv4 and one IPv6 address per pod, ping and
// ping6 between pods and to both gateways, right after ADD.
func TestBridgeDualStack(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true},
		Ranges: [][]map[string]any{{{"subnet": "10.24.0.0/24"}}, {{"subnet": "fd00:24::/64"}}},
	}.conflist(t, node.Dir)
	a, ra := addPod(t, rt, list, "pod-a", nil)
	_, rb := addPod(t, rt, list, "pod-b", nil)
	if len(ra.IPs) != 2 {
		t.Fatalf("result ips = %v, want one per family", ra.IPs)
	}
	for _, addr := range []string{podIP(t, rb, false), podIP(t, rb, true), "10.24.0.1", "fd00:24::1"} {
		if err := testutil.Ping(a.Pod.NetNS, addr, 1); err != nil {
			t.Fatalf("first ping to %s right after ADD: %v", addr, err)
		}
	}
	if got := a.Pod.Routes(t, "6"); !slices.Contains(got, "default via fd00:24::1 dev eth0 metric 1024 pref medium") {
		t.Fatalf("pod IPv6 routes = %v, want a default route via fd00:24::1", got)
	}
	if got := node.Sysctl(t, "net/ipv6/conf/all/forwarding"); got != "1" {
		t.Fatalf("IPv6 forwarding = %s, want 1", got)
	}
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
}

// TestBridgeIPv4OnlyLeavesIPv6Forwarding: forwarding is enabled only for
// the families in use.
func TestBridgeIPv4OnlyLeavesIPv6Forwarding(t *testing.T) {
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	node.MustExec(t, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=0", "net.ipv4.ip_forward=0")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.25.0.0/24")}.conflist(t, node.Dir)
	addPod(t, rt, list, "pod", nil)
	if got := node.Sysctl(t, "net/ipv4/ip_forward"); got != "1" {
		t.Fatalf("ip_forward = %s, want 1", got)
	}
	if got := node.Sysctl(t, "net/ipv6/conf/all/forwarding"); got != "0" {
		t.Fatalf("IPv6 forwarding = %s, want it left at 0", got)
	}
}

// TestBridgeL2: no ipam; ADD gives an interface without addresses, CHECK
// works (the reference's always fails), DEL cleans up.
func TestBridgeL2(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge")
	list := bridgeNet{Version: "1.0.0"}.conflist(t, node.Dir)
	a, ra := addPod(t, rt, list, "pod-a", nil)
	b, _ := addPod(t, rt, list, "pod-b", nil)
	if len(ra.IPs) != 0 || len(ra.Interfaces) != 3 {
		t.Fatalf("L2 result = %v", ra)
	}
	if got := a.Pod.MustExec(t, "ip", "-o", "link", "show", "eth0"); !strings.Contains(got, "state UP") && !strings.Contains(got, ",UP") {
		t.Fatalf("pod eth0 not up in L2 mode: %s", got)
	}
	a.Pod.MustExec(t, "ip", "addr", "add", "192.168.77.1/24", "dev", "eth0")
	b.Pod.MustExec(t, "ip", "addr", "add", "192.168.77.2/24", "dev", "eth0")
	testutil.MustPing(t, a.Pod.NetNS, "192.168.77.2")
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK in L2 mode: %v", err)
	}
	for _, att := range []testutil.Attachment{a, b} {
		if err := rt.Del(ctx, list, att); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("veths left after DEL: %v", v)
	}
}

// TestBridgeMAC: runtimeConfig.mac beats args.cni.mac beats CNI_ARGS MAC.
func TestBridgeMAC(t *testing.T) {
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	raw := `{"cniVersion":"1.1.0","name":"podnet-br","plugins":[{"type":"bridge","bridge":"cni0",
		"capabilities":{"mac":true},"args":{"cni":{"mac":"0a:58:00:00:00:02"}},
		"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.26.0.0/24"}]]}}]}`
	list := testutil.ConfList(t, fmt.Sprintf(raw, node.Dir))
	_, r := addPod(t, rt, list, "pod-caps", map[string]any{"mac": "0a:58:00:00:00:01"})
	if got := r.Interfaces[2].Mac; got != "0a:58:00:00:00:01" {
		t.Fatalf("pod MAC with runtimeConfig.mac = %s, want 0a:58:00:00:00:01", got)
	}
	_, r = addPod(t, rt, list, "pod-args", nil)
	if got := r.Interfaces[2].Mac; got != "0a:58:00:00:00:02" {
		t.Fatalf("pod MAC with args.cni.mac = %s, want 0a:58:00:00:00:02", got)
	}
	plain := bridgeNet{Name: "podnet-br2", Bridge: map[string]any{"bridge": "cni1"}, Ranges: v4Range("10.27.0.0/24")}.conflist(t, node.Dir)
	pod := testutil.NewPod(t, "pod-env")
	res, err := rt.Add(context.Background(), plain, testutil.Attachment{Pod: pod, Args: [][2]string{{"MAC", "0a:58:00:00:00:03"}}})
	if err != nil {
		t.Fatal(err)
	}
	r, _ = current.GetResult(res)
	if got := r.Interfaces[2].Mac; got != "0a:58:00:00:00:03" {
		t.Fatalf("pod MAC with CNI_ARGS MAC = %s, want 0a:58:00:00:00:03", got)
	}
	if got := pod.MustExec(t, "ip", "-o", "link", "show", "eth0"); !strings.Contains(got, "0a:58:00:00:00:03") {
		t.Fatalf("pod eth0 = %s", got)
	}
}

// TestBridgeDelAfterNetnsGone: the pod's namespace is removed before DEL;
// DEL still succeeds and leaves no veth, reservation or rule.
func TestBridgeDelAfterNetnsGone(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true},
		Ranges: v4Range("10.28.0.0/24"),
	}.conflist(t, node.Dir)
	before := node.Netfilter(t)
	a, _ := addPod(t, rt, list, "pod", nil)
	a.Pod.Delete(t)
	if err := rt.Del(ctx, list, a); err != nil {
		t.Fatalf("DEL after the netns is gone: %v", err)
	}
	if err := rt.Del(ctx, list, a); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("veths left: %v", v)
	}
	if r := reservations(t, node.Dir, "podnet-br"); len(r) != 0 {
		t.Fatalf("reservations left: %v", r)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := node.Netfilter(t); got != before {
		t.Fatalf("netfilter after DEL+GC:\n%s\nwant:\n%s", got, before)
	}
}

// TestBridgeGCKeepsValid: GC with a valid attachment keeps the masquerade
// rules and that attachment's reservation, and drops a stale one.
func TestBridgeGCKeepsValid(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true},
		Ranges: v4Range("10.29.0.0/24"),
	}.conflist(t, node.Dir)
	a, ra := addPod(t, rt, list, "pod-a", nil)
	b, _ := addPod(t, rt, list, "pod-b", nil)
	if err := rt.GC(ctx, list, a); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if r := reservations(t, node.Dir, "podnet-br"); !slices.Equal(r, []string{podIP(t, ra, false)}) {
		t.Fatalf("reservations after GC = %v, want only pod a's", r)
	}
	if v := vethsOn(t, node.NetNS); len(v) != 1 {
		t.Fatalf("veths after GC = %v, want pod a's only (libcni DELs the stale one)", v)
	}
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK of the valid pod after GC: %v", err)
	}
	_ = b
}

// TestBridgeConcurrentAdd: 50 ADDs at once on a bridge that does not exist
// yet all succeed with distinct addresses (no EEXIST races on the bridge,
// its address or the masquerade rules); 50 concurrent DELs and a GC leave
// the node's netfilter state as it was.
func TestBridgeConcurrentAdd(t *testing.T) {
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) { concurrentAdd(t, backend) })
	}
}

func concurrentAdd(t *testing.T, backend string) {
	const n = 50
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true, "ipMasqBackend": backend},
		Ranges: v4Range("10.30.0.0/24"),
	}.conflist(t, node.Dir)
	before := node.Netfilter(t)
	atts := make([]testutil.Attachment, n)
	for i := range atts {
		atts[i] = testutil.Attachment{Pod: testutil.NewPod(t, fmt.Sprintf("p%d", i)), IfName: "eth0"}
	}
	ips := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range atts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := rt.Add(ctx, list, atts[i])
			if err != nil {
				errs[i] = err
				return
			}
			r, err := current.GetResult(res)
			if err != nil {
				errs[i] = err
				return
			}
			ips[i] = r.IPs[0].Address.IP.String()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent ADD %d: %v", i, err)
		}
	}
	if uniq := slices.Compact(slices.Sorted(slices.Values(ips))); len(uniq) != n {
		t.Fatalf("%d distinct addresses for %d pods", len(uniq), n)
	}
	if backend == "nftables" {
		if got := node.MustExec(t, "nft", "list", "map", "inet", "podnet-masquerade", "src-v4"); strings.Count(got, "10.30.0.0/24") != 1 {
			t.Fatalf("masquerade map after %d ADDs:\n%s", n, got)
		}
	} else if got := node.MustExec(t, "iptables-save", "-t", "nat"); strings.Count(got, "-A PODNET-MASQ -s 10.30.0.0/24") != 1 || strings.Count(got, "-j PODNET-MASQ\n") != 1 {
		t.Fatalf("iptables nat after %d ADDs:\n%s", n, got)
	}
	testutil.MustPing(t, atts[0].Pod.NetNS, ips[n-1])
	for i := range atts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = rt.Del(ctx, list, atts[i])
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent DEL %d: %v", i, err)
		}
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("%d veths left after DEL", len(v))
	}
	if r := reservations(t, node.Dir, "podnet-br"); len(r) != 0 {
		t.Fatalf("reservations left: %v", r)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := node.Netfilter(t); backend == "nftables" && got != before {
		t.Fatalf("netfilter after DEL+GC:\n%s\nwant:\n%s", got, before)
	}
	if got := node.MustExec(t, "iptables-save", "-t", "nat"); strings.Contains(got, "PODNET") {
		t.Fatalf("iptables rules left after DEL+GC:\n%s", got)
	}
}

// TestBridgeReusedIPReachable: a new pod that gets the address of a
// deleted one answers the node's first ping: the node's stale neighbor
// entry for that address does not survive the ADD.
func TestBridgeReusedIPReachable(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.31.0.0/24")}.conflist(t, node.Dir)
	args := [][2]string{{"IP", "10.31.0.50"}}
	old := testutil.Attachment{Pod: testutil.NewPod(t, "old"), IfName: "eth0", Args: args}
	if _, err := rt.Add(ctx, list, old); err != nil {
		t.Fatal(err)
	}
	testutil.MustPing(t, node.NetNS, "10.31.0.50")
	if err := rt.Del(ctx, list, old); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(node.Neighbors(t), "\n"); !strings.Contains(got, "10.31.0.50") {
		t.Logf("no neighbor entry left by the old pod (%s); the test still checks the first ping", got)
	}
	fresh := testutil.Attachment{Pod: testutil.NewPod(t, "new"), IfName: "eth0", Args: args}
	if _, err := rt.Add(ctx, list, fresh); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Ping(node.NetNS, "10.31.0.50", 1); err != nil {
		t.Fatalf("first ping to the reused address: %v\nneighbors: %v", err, node.Neighbors(t))
	}
}

// TestBridgeVersions: ADD, CHECK (from 0.4.0) and DEL with every config
// version a runtime may send; the result parses in that version.
func TestBridgeVersions(t *testing.T) {
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			ctx := context.Background()
			node := testutil.NewNode(t, "node")
			rt := testutil.NewRuntime(t, node, "bridge", "host-local")
			list := bridgeNet{Version: v, Bridge: map[string]any{"isDefaultGateway": true}, Ranges: v4Range("10.32.0.0/24")}.conflist(t, node.Dir)
			att := testutil.Attachment{Pod: testutil.NewPod(t, "pod"), IfName: "eth0"}
			res, err := rt.Add(ctx, list, att)
			if err != nil {
				t.Fatalf("ADD %s: %v", v, err)
			}
			if res.Version() != v {
				t.Fatalf("result version %s, want %s", res.Version(), v)
			}
			r, err := current.NewResultFromResult(res)
			if err != nil || len(r.IPs) != 1 || r.IPs[0].Address.IP.String() != "10.32.0.2" {
				t.Fatalf("result %s: %v %v", v, r, err)
			}
			if v >= "0.4.0" {
				if err := rt.Check(ctx, list, att); err != nil {
					t.Fatalf("CHECK %s: %v", v, err)
				}
			}
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("DEL %s: %v", v, err)
			}
		})
	}
}

// execBridge runs the bridge binary directly in the node, as a runtime
// would, for tests that look at the error JSON.
func execBridge(t *testing.T, node *testutil.Node, cmd string, pod *testutil.Pod, ifName, conf string) testutil.PluginRun {
	t.Helper()
	bin := testutil.BinDir(t, "bridge", "host-local")
	env := []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + pod.ContainerID, "CNI_NETNS=" + pod.Path,
		"CNI_IFNAME=" + ifName, "CNI_PATH=" + bin, "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return testutil.ExecPlugin(t, node.NetNS, bin+"/bridge", env, []byte(conf))
}

// TestBridgeBadInput: each mistake gets a CNI error with a clear message
// and the right code, and leaves no veth and no reservation behind.
func TestBridgeBadInput(t *testing.T) {
	node := testutil.NewNode(t, "node")
	node.MustExec(t, "ip", "link", "add", "notabridge", "type", "veth", "peer", "name", "notabridge-p")
	conf := func(extra string) string {
		return fmt.Sprintf(`{"cniVersion":"1.1.0","name":"bad","type":"bridge"%s,
			"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.33.0.0/24"}]]}}`, extra, node.Dir)
	}
	cases := []struct {
		name, conf, ifName, want string
		code                     uint
	}{
		{"not a bridge", conf(`,"bridge":"notabridge"`), "eth0", "not a bridge", 7},
		{"vlan out of range", conf(`,"vlan":4095`), "eth0", "vlan 4095", 7},
		{"bad trunk", conf(`,"vlanTrunk":[{"minID":10}]`), "eth0", "minID and maxID", 7},
		{"promisc and hairpin", conf(`,"promiscMode":true,"hairpinMode":true`), "eth0", "hairpinMode and promiscMode", 7},
		{"disableContainerInterface with ipam", conf(`,"disableContainerInterface":true`), "eth0", "disableContainerInterface", 7},
		{"bad backend", conf(`,"ipMasq":true,"ipMasqBackend":"pf"`), "eth0", "ipMasqBackend", 7},
		{"bad mac", conf(`,"args":{"cni":{"mac":"zz"}}`), "eth0", "args.cni.mac", 7},
		{"interface exists in pod", conf(``), "taken0", "already exists", 4},
		{"malformed JSON", `{"cniVersion":"1.1.0","name":"bad","type":"bridge",`, "eth0", "network config", 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := testutil.NewPod(t, "pod")
			pod.MustExec(t, "ip", "link", "add", "taken0", "type", "veth", "peer", "name", "taken1")
			run := execBridge(t, node, "ADD", pod, tc.ifName, tc.conf)
			if run.ExitCode == 0 {
				t.Fatalf("ADD succeeded: %s", run.Stdout)
			}
			e := run.CNIError(t)
			if e.Code != tc.code || !strings.Contains(e.Msg, tc.want) {
				t.Fatalf("error = %d %q, want code %d mentioning %q", e.Code, e.Msg, tc.code, tc.want)
			}
			if v := vethsOn(t, node.NetNS); len(v) != 0 {
				t.Fatalf("veths left after a failed ADD: %v", v)
			}
			if r := reservations(t, node.Dir, "bad"); len(r) != 0 {
				t.Fatalf("reservations left after a failed ADD: %v", r)
			}
			if got := pod.LinkNames(t); !slices.Equal(got, []string{"lo", "taken0", "taken1"}) {
				t.Fatalf("pod links after a failed ADD: %v", got)
			}
		})
	}
}

// TestBridgeStatus: STATUS forwards to IPAM (a bad range fails there) and
// succeeds on a healthy config.
func TestBridgeStatus(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	ok := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"st","type":"bridge","ipMasq":true,
		"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.34.0.0/24"}]]}}`, node.Dir)
	if run := execBridge(t, node, "STATUS", pod, "eth0", ok); run.ExitCode != 0 {
		t.Fatalf("STATUS: %s %s", run.Stdout, run.Stderr)
	}
	bad := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"st","type":"bridge",
		"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.34.0.0/24","rangeStart":"10.99.0.1"}]]}}`, node.Dir)
	run := execBridge(t, node, "STATUS", pod, "eth0", bad)
	if run.ExitCode == 0 {
		t.Fatal("STATUS with a broken IPAM range succeeded")
	}
	if e := run.CNIError(t); !strings.Contains(e.Msg, "host-local") && !strings.Contains(e.Msg, "rangeStart") {
		t.Fatalf("STATUS error does not come from IPAM: %d %q", e.Code, e.Msg)
	}
}

// benchImpl is one bridge binary under benchmark, with the IPAM plugin it
// delegates to, in a CNI_PATH of its own.
type benchImpl struct{ name, dir string }

// bridgeBenchImpls returns ours and, when $PODNET_REFERENCE_BIN (or
// .cache/reference/bin) holds the reference bridge, the reference; the
// reference execs our host-local binary, ours runs the same host-local code
// in its own process, so the figures compare the bridge plugins with the
// same IPAM code.
func bridgeBenchImpls(b *testing.B) []benchImpl {
	ours := testutil.BinDir(b, "bridge", "host-local")
	impls := []benchImpl{{"ours", ours}}
	dir, err := referenceBridgeDir(b, ours)
	if err != nil {
		b.Logf("%v; benchmarking ours only", err)
		return impls
	}
	return append(impls, benchImpl{"reference", dir})
}

// referenceBridgeDir returns a CNI_PATH holding the reference bridge of
// $PODNET_REFERENCE_BIN (or .cache/reference/bin, which make
// bench-reference fills) and our host-local from ours.
func referenceBridgeDir(t testutil.TB, ours string) (string, error) {
	ref := os.Getenv("PODNET_REFERENCE_BIN")
	if ref == "" {
		ref = filepath.Join(testutil.RepoRoot(t), ".cache", "reference", "bin")
	}
	if _, err := os.Stat(filepath.Join(ref, "bridge")); err != nil {
		return "", fmt.Errorf("no reference bridge in %s (make bench-reference installs it)", ref)
	}
	dir := t.TempDir()
	for src, name := range map[string]string{filepath.Join(ref, "bridge"): "bridge", filepath.Join(ours, "host-local"): "host-local"} {
		if err := os.Symlink(src, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, nil
}

// TestBridgeGCRemovesReferenceMasquerade: a node upgraded in place. Pods
// added by the reference bridge with ipMasq (iptables and nftables
// backends) leave per-pod masquerade rules; our DEL does not look for
// them, our GC removes those of attachments that are not valid and keeps
// the valid ones', and a GC with none valid leaves nothing of the network.
func TestBridgeGCRemovesReferenceMasquerade(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	ours := testutil.NewRuntime(t, node, "bridge", "host-local")
	refDir, err := referenceBridgeDir(t, ours.BinDir)
	if err != nil {
		if testutil.InCI() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// One runtime, one cache; only the binaries on CNI_PATH change.
	before := &testutil.Runtime{Node: node, CNI: libcni.NewCNIConfigWithCacheDir([]string{refDir}, ours.CacheDir, nil),
		CacheDir: ours.CacheDir, BinDir: refDir}
	conf := func(backend string) *libcni.NetworkConfigList {
		return bridgeNet{
			Name:   "upgr",
			Bridge: map[string]any{"isGateway": true, "ipMasq": true, "ipMasqBackend": backend},
			Ranges: v4Range("10.31.0.0/24"),
		}.conflist(t, node.Dir)
	}
	ipt, nft := conf("iptables"), conf("nftables")
	a, _ := addPod(t, before, ipt, "pod-a", nil)
	b, _ := addPod(t, before, nft, "pod-b", nil)
	c, _ := addPod(t, before, ipt, "pod-c", nil)
	d, _ := addPod(t, before, nft, "pod-d", nil)
	chain := func(p testutil.Attachment) string {
		sum := sha512.Sum512([]byte("upgr" + p.Pod.ContainerID))
		return "CNI-" + hex.EncodeToString(sum[:])[:24]
	}
	state := func() (iptables, nftables string) {
		return node.MustExec(t, "iptables-save", "-t", "nat"), node.MustExec(t, "nft", "list", "table", "inet", "cni_plugins_masquerade")
	}
	ip4, nf := state()
	for _, want := range []string{chain(a), chain(c)} {
		if !strings.Contains(ip4, want) {
			t.Fatalf("the reference left no chain %s; the test sees nothing to remove:\n%s", want, ip4)
		}
	}
	for _, p := range []testutil.Attachment{b, d} {
		if !strings.Contains(nf, "id: "+p.Pod.ContainerID[:10]) {
			t.Fatalf("the reference left no nftables rule for %s:\n%s", p.Pod.Name, nf)
		}
	}

	ourDel := func(list *libcni.NetworkConfigList, p testutil.Attachment) {
		t.Helper()
		if err := ours.Del(ctx, list, p); err != nil {
			t.Fatalf("our DEL of %s: %v", p.Pod.Name, err)
		}
	}
	ourDel(ipt, a)
	ourDel(nft, b)
	if ip4, _ := state(); !strings.Contains(ip4, chain(a)) {
		t.Fatalf("our DEL removed the reference's chain; this test expects GC to:\n%s", ip4)
	}
	if err := ours.GC(ctx, ipt, c, d); err != nil {
		t.Fatalf("GC with c and d valid: %v", err)
	}
	ip4, nf = state()
	if strings.Contains(ip4, chain(a)) || !strings.Contains(ip4, chain(c)) {
		t.Errorf("after GC, want pod a's chain gone and pod c's kept:\n%s", ip4)
	}
	if strings.Contains(nf, "id: "+b.Pod.ContainerID[:10]) || !strings.Contains(nf, "id: "+d.Pod.ContainerID[:10]) {
		t.Errorf("after GC, want pod b's rule gone and pod d's kept:\n%s", nf)
	}

	ourDel(ipt, c)
	ourDel(nft, d)
	if err := ours.GC(ctx, ipt); err != nil {
		t.Fatalf("GC with none valid: %v", err)
	}
	ip4, nf = state()
	if strings.Contains(ip4, "CNI-") || strings.Contains(ip4, `\"upgr\"`) {
		t.Errorf("after GC with none valid, the network still has reference rules:\n%s", ip4)
	}
	if strings.Contains(nf, "masquerade comment") || strings.Contains(nf, " id: ") {
		t.Errorf("after GC with none valid, masq_checks still has rules:\n%s", nf)
	}
}

// BenchmarkBridge measures one ADD and one DEL of bridge + host-local
// through libcni on a bridge that already holds 10, 100 and 250 pods
// (isGateway, default route, no ipMasq: the reference's bridge-only
// setup). Ours and the reference (when installed) run on nodes of their
// own, interleaved operation by operation so both share the machine's
// noise; the metrics are the medians and their ratios. As root, after
// make build (and make bench-reference for the comparison):
//
//	go test -run '^$' -bench BenchmarkBridge -benchtime 30x ./integration/
func BenchmarkBridge(b *testing.B) {
	impls := bridgeBenchImpls(b)
	for _, pods := range []int{10, 100, 250} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) { benchBridgeAt(b, impls, pods) })
	}
}

// benchNode is one implementation's node, filled with pods, and the pod
// whose ADD and DEL are timed.
type benchNode struct {
	impl     benchImpl
	rt       *testutil.Runtime
	list     *libcni.NetworkConfigList
	pod      *testutil.Pod
	add, del []time.Duration
}

func newBenchNode(b *testing.B, impl benchImpl, pods int) *benchNode {
	node := testutil.NewNode(b, impl.name)
	n := &benchNode{impl: impl, pod: testutil.NewPod(b, "bench")}
	n.rt = &testutil.Runtime{Node: node, CNI: libcni.NewCNIConfigWithCacheDir([]string{impl.dir}, b.TempDir(), nil), BinDir: impl.dir}
	n.list = testutil.ConfList(b, fmt.Sprintf(`{"cniVersion":"1.1.0","name":"bench","plugins":[{"type":"bridge","bridge":"cni0",
		"isGateway":true,"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}]}}]}`, node.Dir))
	for i := 0; i < pods; i++ {
		att := testutil.Attachment{Pod: testutil.NewPod(b, fmt.Sprintf("fill%d", i)), IfName: "eth0"}
		if _, err := n.rt.Add(context.Background(), n.list, att); err != nil {
			b.Fatalf("%s: fill pod %d: %v", impl.name, i, err)
		}
	}
	return n
}

// cycle times one ADD and one DEL of the bench pod.
func (n *benchNode) cycle(b *testing.B) {
	ctx := context.Background()
	att := testutil.Attachment{Pod: n.pod, IfName: "eth0"}
	t0 := time.Now()
	if _, err := n.rt.Add(ctx, n.list, att); err != nil {
		b.Fatalf("%s ADD: %v", n.impl.name, err)
	}
	t1 := time.Now()
	if err := n.rt.Del(ctx, n.list, att); err != nil {
		b.Fatalf("%s DEL: %v", n.impl.name, err)
	}
	n.add, n.del = append(n.add, t1.Sub(t0)), append(n.del, time.Since(t1))
}

func benchBridgeAt(b *testing.B, impls []benchImpl, pods int) {
	var nodes []*benchNode
	for _, impl := range impls {
		nodes = append(nodes, newBenchNode(b, impl, pods))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range nodes {
			nodes[(i+j)%len(nodes)].cycle(b) // alternate who goes first
		}
	}
	b.StopTimer()
	for _, n := range nodes {
		b.ReportMetric(medianMS(n.add), n.impl.name+"-add-p50-ms")
		b.ReportMetric(medianMS(n.del), n.impl.name+"-del-p50-ms")
	}
	if len(nodes) == 2 {
		b.ReportMetric(medianMS(nodes[0].add)/medianMS(nodes[1].add), "add-ratio")
		b.ReportMetric(medianMS(nodes[0].del)/medianMS(nodes[1].del), "del-ratio")
	}
}

func medianMS(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// TestBridgeMacSpoofCheck: with macspoofchk a pod that changes its MAC is
// cut off; DEL (even with the netns gone) and GC leave no state.
func TestBridgeMacSpoofCheck(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"macspoofchk": true, "isGateway": true}, Ranges: v4Range("10.35.0.0/24")}.conflist(t, node.Dir)
	before := node.Netfilter(t)
	a, ra := addPod(t, rt, list, "pod-a", nil)
	b, rb := addPod(t, rt, list, "pod-b", nil)
	testutil.MustPing(t, a.Pod.NetNS, podIP(t, rb, false))
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	a.Pod.MustExec(t, "ip", "link", "set", "eth0", "address", "0a:58:de:ad:be:ef")
	b.Pod.MustExec(t, "ip", "neigh", "flush", "all")
	testutil.MustNotPing(t, a.Pod.NetNS, podIP(t, rb, false))
	a.Pod.MustExec(t, "ip", "link", "set", "eth0", "address", ra.Interfaces[2].Mac)
	testutil.MustPing(t, a.Pod.NetNS, podIP(t, rb, false))

	b.Pod.Delete(t)
	for _, att := range []testutil.Attachment{a, b} {
		if err := rt.Del(ctx, list, att); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if got := node.Netfilter(t); got != before {
		t.Fatalf("netfilter after DEL+GC:\n%s\nwant:\n%s", got, before)
	}
}

// TestBridgeMasqueradeIPTables: the iptables backend masquerades the same
// way, with one chain per network, and GC removes it.
func TestBridgeMasqueradeIPTables(t *testing.T) {
	ctx := context.Background()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local")
	list := bridgeNet{
		Bridge: map[string]any{"isDefaultGateway": true, "ipMasq": true, "ipMasqBackend": "iptables"},
		Ranges: v4Range("10.36.0.0/24"),
	}.conflist(t, node.Dir)
	a, _ := addPod(t, rt, list, "pod-a", nil)
	b, _ := addPod(t, rt, list, "pod-b", nil)
	saved := node.MustExec(t, "iptables-save", "-t", "nat")
	if strings.Count(saved, "-A PODNET-MASQ -s 10.36.0.0/24") != 1 || strings.Count(saved, "-j MASQUERADE") != 1 {
		t.Fatalf("want one jump and one MASQUERADE rule for two pods:\n%s", saved)
	}
	testutil.StartEcho(t, c.Outside, "tcp", "0.0.0.0:7000")
	seen, err := testutil.DialRetry(ctx, a.Pod.NetNS, "tcp", testutil.OutsideV4+":7000")
	if err != nil {
		t.Fatal(err)
	}
	if got := testutil.PeerIP(seen); got != node.V4 {
		t.Fatalf("outside saw %s, want %s", got, node.V4)
	}
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	for _, att := range []testutil.Attachment{a, b} {
		if err := rt.Del(ctx, list, att); err != nil {
			t.Fatal(err)
		}
	}
	if got := node.MustExec(t, "iptables-save", "-t", "nat"); !strings.Contains(got, "PODNET-MASQ") {
		t.Fatalf("DEL removed the network's rules; only GC should:\n%s", got)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatal(err)
	}
	if got := node.MustExec(t, "iptables-save", "-t", "nat"); strings.Contains(got, "PODNET") {
		t.Fatalf("rules left after GC:\n%s", got)
	}
}

// vlanFilteringSupported probes for bridge VLAN filtering in a scratch
// namespace.
func vlanFilteringSupported(t *testing.T) error {
	n := testutil.NewNetNS(t, "vlanprobe")
	_, err := n.Exec("ip", "link", "add", "probe0", "type", "bridge", "vlan_filtering", "1")
	return err
}

// TestBridgeVlan: pods on VLAN 10 reach each other and their gateway on
// cni0.10, not a pod on VLAN 20; the trunk port carries both tagged.
func TestBridgeVlan(t *testing.T) {
	testutil.SkipWithoutOptionalFeature(t, "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)", vlanFilteringSupported(t))
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	v10 := bridgeNet{Name: "v10", Bridge: map[string]any{"vlan": 10, "isGateway": true}, Ranges: v4Range("10.37.10.0/24")}.conflist(t, node.Dir)
	v20 := bridgeNet{Name: "v20", Bridge: map[string]any{"vlan": 20}, Ranges: v4Range("10.37.20.0/24")}.conflist(t, node.Dir)
	a, _ := addPod(t, rt, v10, "a10", nil)
	_, rb := addPod(t, rt, v10, "b10", nil)
	c20, rc := addPod(t, rt, v20, "c20", nil)
	testutil.MustPing(t, a.Pod.NetNS, podIP(t, rb, false))
	testutil.MustPing(t, a.Pod.NetNS, "10.37.10.1")
	if !strings.Contains(node.MustExec(t, "ip", "-o", "addr", "show", "dev", "cni0.10"), "10.37.10.1/24") {
		t.Fatal("gateway address not on cni0.10")
	}
	c20.Pod.MustExec(t, "ip", "addr", "add", "10.37.10.99/24", "dev", "eth0")
	testutil.MustNotPing(t, c20.Pod.NetNS, podIP(t, rb, false))
	vlans := node.MustExec(t, "bridge", "vlan", "show", "dev", rc.Interfaces[1].Name)
	if !strings.Contains(vlans, "20 PVID") || strings.Contains(vlans, " 1 ") {
		t.Fatalf("VLANs of the VLAN 20 port:\n%s", vlans)
	}
	if err := rt.Check(ctx, v10, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	trunk := bridgeNet{Name: "trunk", Bridge: map[string]any{"vlanTrunk": []map[string]int{{"id": 10}, {"id": 20}}}}.conflist(t, node.Dir)
	_, rt2 := addPod(t, rt, trunk, "trunk", nil)
	vlans = node.MustExec(t, "bridge", "vlan", "show", "dev", rt2.Interfaces[1].Name)
	if !strings.Contains(vlans, "10") || !strings.Contains(vlans, "20") || !strings.Contains(vlans, "1 PVID Egress Untagged") {
		t.Fatalf("VLANs of the trunk port (want 10 and 20 tagged, 1 native):\n%s", vlans)
	}
}

// TestBridgeStatusBackendUnusable: with ipMasq and no netfilter tool
// reachable, STATUS fails with code 50.
func TestBridgeStatusBackendUnusable(t *testing.T) {
	node := testutil.NewNode(t, "node")
	bin := testutil.BinDir(t, "bridge", "host-local")
	for _, backend := range []string{"", "iptables", "nftables"} {
		conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"st","type":"bridge","ipMasq":true,"ipMasqBackend":%q,
			"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.38.0.0/24"}]]}}`, backend, node.Dir)
		env := []string{"CNI_COMMAND=STATUS", "CNI_PATH=" + bin, "PATH=" + t.TempDir()}
		run := testutil.ExecPlugin(t, node.NetNS, bin+"/bridge", env, []byte(conf))
		if run.ExitCode == 0 {
			t.Fatalf("backend %q: STATUS succeeded without iptables or nft", backend)
		}
		if e := run.CNIError(t); e.Code != 50 || !strings.Contains(e.Msg, "ipMasq") {
			t.Fatalf("backend %q: STATUS error %d %q, want 50 about ipMasq", backend, e.Code, e.Msg)
		}
	}
}

// TestBridgeMACPinned: the bridge keeps its MAC when a port with a lower
// MAC joins, so the gateway's MAC never flaps under pods.
func TestBridgeMACPinned(t *testing.T) {
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.39.0.0/24")}.conflist(t, node.Dir)
	_, r := addPod(t, rt, list, "pod", nil)
	mac := r.Interfaces[0].Mac
	node.MustExec(t, "ip", "link", "add", "low0", "address", "02:00:00:00:00:01", "type", "veth", "peer", "name", "low1")
	node.MustExec(t, "ip", "link", "set", "low0", "master", "cni0", "up")
	node.MustExec(t, "ip", "link", "set", "low1", "up")
	if got := node.MustExec(t, "cat", "/sys/class/net/cni0/address"); strings.TrimSpace(got) == "02:00:00:00:00:01" {
		t.Fatal("bridge took the new port's MAC")
	}
	out := node.MustExec(t, "ip", "-o", "link", "show", "cni0")
	if !strings.Contains(out, mac) {
		t.Fatalf("bridge MAC changed from %s: %s", mac, out)
	}
}

// TestBridgeForceAddress: a bridge holding another IPv4 address refuses
// the network unless forceAddress, which replaces the address.
func TestBridgeForceAddress(t *testing.T) {
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	node.MustExec(t, "ip", "link", "add", "cni0", "type", "bridge")
	node.MustExec(t, "ip", "addr", "add", "10.40.9.1/24", "dev", "cni0")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.40.0.0/24")}.conflist(t, node.Dir)
	pod := testutil.NewPod(t, "pod")
	_, err := rt.Add(context.Background(), list, testutil.Attachment{Pod: pod, IfName: "eth0"})
	if err == nil || !strings.Contains(err.Error(), "forceAddress") {
		t.Fatalf("ADD on a bridge with another address = %v, want an error naming forceAddress", err)
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("veths left after the failed ADD: %v", v)
	}
	if r := reservations(t, node.Dir, "podnet-br"); len(r) != 0 {
		t.Fatalf("reservations left after the failed ADD: %v", r)
	}
	forced := bridgeNet{Bridge: map[string]any{"isGateway": true, "forceAddress": true}, Ranges: v4Range("10.40.0.0/24")}.conflist(t, node.Dir)
	addPod(t, rt, forced, "pod2", nil)
	addrs := node.MustExec(t, "ip", "-o", "-4", "addr", "show", "dev", "cni0")
	if !strings.Contains(addrs, "10.40.0.1/24") || strings.Contains(addrs, "10.40.9.1") {
		t.Fatalf("bridge addresses after forceAddress: %s", addrs)
	}
}

// TestBridgeEnableDAD: with enabledad the IPv6 address is usable (not
// tentative) when ADD returns, and ADD waits only for DAD itself.
func TestBridgeEnableDAD(t *testing.T) {
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true, "enabledad": true}, Ranges: [][]map[string]any{{{"subnet": "fd00:41::/64"}}}}.conflist(t, node.Dir)
	start := time.Now()
	a, r := addPod(t, rt, list, "pod", nil)
	took := time.Since(start)
	out := a.Pod.MustExec(t, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if strings.Contains(out, "tentative") || !strings.Contains(out, podIP(t, r, true)) {
		t.Fatalf("pod global IPv6 after ADD with enabledad: %s", out)
	}
	if got := a.Pod.Sysctl(t, "net/ipv6/conf/eth0/accept_dad"); got != "1" {
		t.Fatalf("accept_dad = %s, want 1", got)
	}
	if took > 4*time.Second {
		t.Fatalf("ADD with enabledad took %s", took)
	}
	if err := testutil.Ping(a.Pod.NetNS, "fd00:41::1", 1); err != nil {
		t.Fatalf("first ping6 to the gateway: %v", err)
	}
}

// TestBridgeGoneTearsDownMasquerade: when the bridge was removed by hand,
// the next DEL also removes the network's masquerade rules.
func TestBridgeGoneTearsDownMasquerade(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true, "ipMasq": true}, Ranges: v4Range("10.42.0.0/24")}.conflist(t, node.Dir)
	before := node.Netfilter(t)
	a, _ := addPod(t, rt, list, "pod", nil)
	if node.Netfilter(t) == before {
		t.Fatal("ADD with ipMasq wrote no masquerade rules")
	}
	node.MustExec(t, "ip", "link", "del", "cni0")
	if err := rt.Del(ctx, list, a); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if got := node.Netfilter(t); got != before {
		t.Fatalf("netfilter after DEL with the bridge gone:\n%s\nwant:\n%s", got, before)
	}
}

// ipamWrapperRuntime is a runtime whose CNI_PATH holds our bridge and a
// host-local wrapper that logs "<CNI_COMMAND> <CNI_CONTAINERID>" to the
// returned file before exec'ing our host-local binary: it shows which
// verbs the bridge exec'd and which it ran in-process.
func ipamWrapperRuntime(t *testing.T, node *testutil.Node) (*testutil.Runtime, string) {
	t.Helper()
	bin := testutil.BinDir(t, "bridge", "host-local")
	dir, logFile := t.TempDir(), filepath.Join(t.TempDir(), "host-local.log")
	if err := os.Symlink(filepath.Join(bin, "bridge"), filepath.Join(dir, "bridge")); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"$CNI_COMMAND $CNI_CONTAINERID\" >> %q\nexec %q \"$@\"\n", logFile, filepath.Join(bin, "host-local"))
	if err := os.WriteFile(filepath.Join(dir, "host-local"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	return &testutil.Runtime{Node: node, CNI: libcni.NewCNIConfigWithCacheDir([]string{dir}, cache, nil), CacheDir: cache, BinDir: dir}, logFile
}

// execLog returns the wrapper's log lines.
func execLog(t *testing.T, logFile string) []string {
	t.Helper()
	b, err := os.ReadFile(logFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.ReplaceAll(string(b), " ", "_"))
}

// TestBridgeInProcessIPAMMatchesExec: on one network and one store, ADDs
// with host-local in-process and with the host-local binary (ipamExec)
// alternate. Addresses are distinct and follow one round-robin cursor; each
// reservation file holds exactly the bytes the binary writes
// ("<containerID>\r\n<ifname>", mode 0600); the binary runs only for the
// exec path; pods of both paths reach each other; each pod is CHECKed and
// DELeted by the other path; nothing is left.
func TestBridgeInProcessIPAMMatchesExec(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt, logFile := ipamWrapperRuntime(t, node)
	net := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.36.0.0/24")}
	inProc := net.conflist(t, node.Dir)
	net.Bridge = map[string]any{"isGateway": true, "ipamExec": true}
	viaExec := net.conflist(t, node.Dir)
	lists := []*libcni.NetworkConfigList{inProc, viaExec}
	store := filepath.Join(node.Dir, "podnet-br")

	var pods []testutil.Attachment
	var ips []string
	for i := 0; i < 4; i++ {
		before := len(execLog(t, logFile))
		att, res := addPod(t, rt, lists[i%2], fmt.Sprintf("pod%d", i), nil)
		pods, ips = append(pods, att), append(ips, podIP(t, res, false))
		if want := fmt.Sprintf("10.36.0.%d", i+2); ips[i] != want {
			t.Fatalf("pod %d (exec=%v) got %s, want %s: both paths share one cursor", i, i%2 == 1, ips[i], want)
		}
		if execs := len(execLog(t, logFile)) - before; execs != i%2 {
			t.Fatalf("pod %d (exec=%v): host-local binary ran %d times, want %d", i, i%2 == 1, execs, i%2)
		}
		if b, err := os.ReadFile(filepath.Join(store, "last_reserved_ip.0")); err != nil || string(b) != ips[i] {
			t.Fatalf("last_reserved_ip.0 after pod %d = %q (%v), want %s", i, b, err, ips[i])
		}
	}
	for i, att := range pods {
		path := filepath.Join(store, ips[i])
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if want := att.Pod.ContainerID + "\r\neth0"; string(b) != want {
			t.Fatalf("pod %d (exec=%v): %s holds %q, want %q", i, i%2 == 1, path, b, want)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("pod %d: %s mode %v (%v), want 0600", i, path, st.Mode(), err)
		}
	}
	testutil.MustPing(t, pods[0].Pod.NetNS, ips[1])
	testutil.MustPing(t, pods[3].Pod.NetNS, ips[2])

	before := len(execLog(t, logFile))
	for i, att := range pods {
		if err := rt.Check(ctx, lists[(i+1)%2], att); err != nil {
			t.Fatalf("CHECK pod %d by the other path: %v", i, err)
		}
	}
	if err := rt.GC(ctx, inProc, pods...); err != nil {
		t.Fatalf("GC in-process: %v", err)
	}
	if r := reservations(t, node.Dir, "podnet-br"); len(r) != 4 {
		t.Fatalf("GC with every pod valid left %v", r)
	}
	if got := len(execLog(t, logFile)) - before; got != 2 {
		t.Fatalf("host-local binary ran %d times for 2 exec CHECKs and an in-process GC", got)
	}
	for i, att := range pods {
		if err := rt.Del(ctx, lists[(i+1)%2], att); err != nil {
			t.Fatalf("DEL pod %d by the other path: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(store, ips[i])); !os.IsNotExist(err) {
			t.Fatalf("DEL pod %d by the other path left its reservation: %v", i, err)
		}
	}
	if v := vethsOn(t, node.NetNS); len(v) != 0 {
		t.Fatalf("veths left: %v", v)
	}
	want := []string{"ADD", "ADD", "CHECK", "CHECK", "DEL", "DEL"}
	var got []string
	for _, l := range execLog(t, logFile) {
		got = append(got, strings.SplitN(l, "_", 2)[0])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("host-local binary ran %v, want %v", got, want)
	}
}

// TestBridgeInProcessIPAMErrors: the same failures through in-process
// host-local and through the exec'd binary give the same CNI error code
// and message, and leave no veth or reservation.
func TestBridgeInProcessIPAMErrors(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt, logFile := ipamWrapperRuntime(t, node)
	tiny := [][]map[string]any{{{"subnet": "10.37.0.0/29", "rangeStart": "10.37.0.2", "rangeEnd": "10.37.0.2"}}}
	for _, tc := range []struct {
		name   string
		ranges [][]map[string]any
		args   [][2]string
	}{
		{"exhausted", tiny, nil},
		{"requested IP outside the ranges", v4Range("10.37.1.0/24"), [][2]string{{"IP", "10.99.0.5"}}},
		{"malformed IP in CNI_ARGS", v4Range("10.37.2.0/24"), [][2]string{{"IP", "10.37.2.x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "err" + strings.ReplaceAll(tc.name, " ", "-")
			if tc.name == "exhausted" {
				l := bridgeNet{Name: name, Ranges: tc.ranges}.conflist(t, node.Dir)
				filler, _ := addPod(t, rt, l, "filler", nil)
				// DEL before the pod's netns goes: the kernel's own
				// teardown of a netns's veths is asynchronous and could
				// still be listing it when the next case counts veths.
				t.Cleanup(func() {
					if err := rt.Del(ctx, l, filler); err != nil {
						t.Errorf("DEL filler: %v", err)
					}
				})
			}
			var errs []*types.Error
			att := testutil.Attachment{Pod: testutil.NewPod(t, "pod"), IfName: "eth0", Args: tc.args}
			for _, exec := range []bool{false, true} {
				l := bridgeNet{Name: name, Ranges: tc.ranges, Bridge: map[string]any{"ipamExec": exec}}.conflist(t, node.Dir)
				before := len(execLog(t, logFile))
				_, err := rt.Add(ctx, l, att)
				if ran := len(execLog(t, logFile)) - before; (ran > 0) != exec {
					t.Fatalf("exec=%v: host-local binary ran %d times", exec, ran)
				}
				var e *types.Error
				if !errors.As(err, &e) {
					t.Fatalf("exec=%v: ADD error %v (%T), want a CNI error", exec, err, err)
				}
				errs = append(errs, e)
				if got := att.Pod.LinkNames(t); !slices.Equal(got, []string{"lo"}) {
					t.Fatalf("exec=%v: pod links after a failed ADD: %v", exec, got)
				}
			}
			if *errs[0] != *errs[1] {
				t.Fatalf("in-process error %d %q (%q)\nexec error       %d %q (%q)", errs[0].Code, errs[0].Msg, errs[0].Details, errs[1].Code, errs[1].Msg, errs[1].Details)
			}
			t.Logf("both: code %d %q", errs[0].Code, errs[0].Msg)
			left := 0
			if tc.name == "exhausted" {
				left = 1 // the filler's
			}
			if r := reservations(t, node.Dir, name); len(r) != left {
				t.Fatalf("reservations left: %v", r)
			}
			if v := vethsOn(t, node.NetNS); len(v) != left {
				t.Fatalf("veths left: %v", v)
			}
		})
	}
}

// BenchmarkBridgeDelFloor compares the bridge's DEL with the kernel's
// synchronous deletion of a veth pair, which bounded DEL until DEL left
// the slow half of it to a detached helper (pkg/linkdel). On one node with
// 10 pods, attachments made by our ADD are removed either by the whole DEL
// through libcni (exec, config, IPAM release, the veth) or by the netlink
// RTM_DELLINK of the host veth alone (timed; a DEL releases the address
// afterwards, untimed), alternately. The metrics are both medians and
// their ratio: above 1, the whole DEL takes less than the bare kernel
// call. As root, after make build:
//
//	go test -run '^$' -bench BenchmarkBridgeDelFloor -benchtime 40x ./integration/
func BenchmarkBridgeDelFloor(b *testing.B) {
	n := newBenchNode(b, bridgeBenchImpls(b)[0], 10)
	ctx := context.Background()
	var dels, links []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		att := testutil.Attachment{Pod: testutil.NewPod(b, fmt.Sprintf("floor%d", i)), IfName: "eth0"}
		res, err := n.rt.Add(ctx, n.list, att)
		if err != nil {
			b.Fatalf("ADD: %v", err)
		}
		r, err := current.GetResult(res)
		if err != nil {
			b.Fatal(err)
		}
		if i%2 == 0 {
			t0 := time.Now()
			if err := n.rt.Del(ctx, n.list, att); err != nil {
				b.Fatalf("DEL: %v", err)
			}
			dels = append(dels, time.Since(t0))
		} else {
			host := r.Interfaces[1].Name
			var took time.Duration
			err := n.rt.Node.Do(func() error {
				l, err := netlink.LinkByName(host)
				if err != nil {
					return err
				}
				t0 := time.Now()
				err = netlink.LinkDel(l)
				took = time.Since(t0)
				return err
			})
			if err != nil {
				b.Fatalf("RTM_DELLINK %s: %v", host, err)
			}
			links = append(links, took)
			if err := n.rt.Del(ctx, n.list, att); err != nil {
				b.Fatalf("DEL after RTM_DELLINK: %v", err)
			}
		}
		att.Pod.Delete(b)
	}
	b.StopTimer()
	if len(dels) == 0 || len(links) == 0 {
		return
	}
	b.ReportMetric(medianMS(dels), "del-p50-ms")
	b.ReportMetric(medianMS(links), "dellink-p50-ms")
	b.ReportMetric(medianMS(links)/medianMS(dels), "dellink-share")
}

// TestBridgeReusedIPReachableFromPeers: a pod that talked to the previous
// holder of an address reaches the new holder with its first ping: the
// node still had a neighbor entry for the address, so the new pod
// announces it (gratuitous ARP) and the peer's cached MAC is replaced.
// Fresh addresses are not announced to every pod on the bridge.
func TestBridgeReusedIPReachableFromPeers(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	list := bridgeNet{Bridge: map[string]any{"isGateway": true}, Ranges: v4Range("10.38.0.0/24")}.conflist(t, node.Dir)
	peer, _ := addPod(t, rt, list, "peer", nil)
	args := [][2]string{{"IP", "10.38.0.50"}}
	old := testutil.Attachment{Pod: testutil.NewPod(t, "old"), IfName: "eth0", Args: args}
	if _, err := rt.Add(ctx, list, old); err != nil {
		t.Fatal(err)
	}
	testutil.MustPing(t, node.NetNS, "10.38.0.50")
	testutil.MustPing(t, peer.Pod.NetNS, "10.38.0.50")
	if err := rt.Del(ctx, list, old); err != nil {
		t.Fatal(err)
	}
	fresh := testutil.Attachment{Pod: testutil.NewPod(t, "new"), IfName: "eth0", Args: args}
	if _, err := rt.Add(ctx, list, fresh); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Ping(peer.Pod.NetNS, "10.38.0.50", 1); err != nil {
		t.Fatalf("first ping from a peer to the reused address: %v\npeer neighbors: %v", err, peer.Pod.Neighbors(t))
	}
	// A fresh address: the peer hears no announcement for it.
	before := strings.Join(peer.Pod.Neighbors(t), "\n")
	addPod(t, rt, list, "other", nil)
	if after := strings.Join(peer.Pod.Neighbors(t), "\n"); after != before {
		t.Fatalf("peer neighbors changed on an ADD of a fresh address:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
