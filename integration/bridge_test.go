package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

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

var _ = fmt.Sprintf
var _ = net.ParseIP
var _ = sync.Mutex{}
var _ types.Result
