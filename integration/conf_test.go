package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

// TestConfExamples loads every conf/*.conflist the way a runtime does and
// uses it for a real ADD, CHECK, DEL and GC on a throwaway node, so the
// examples a user copies can never rot. Only state paths (dataDir,
// peersFile) are redirected into the test's temp directory.
func TestConfExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(t), "conf", "*.conflist"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want the conf/ examples, found %v (%v)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runConfExample(t, f) })
	}
}

func runConfExample(t *testing.T, path string) {
	ctx := context.Background()
	list, err := libcni.ConfListFromFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	types := localize(t, list, filepath.Dir(path), t.TempDir(), node)
	rt := testutil.NewRuntime(t, node.Node, types...)
	pod := testutil.NewPod(t, "pod")
	att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: map[string]any{
		"portMappings": []map[string]any{{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}},
	}}
	before := node.LinkNames(t)

	res, err := rt.Add(ctx, list, att)
	if err != nil {
		t.Fatalf("ADD with %s: %v", filepath.Base(path), err)
	}
	r, err := current.GetResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pod.LinkNames(t), "eth0") {
		t.Fatalf("pod has no eth0 after ADD: %v", pod.Links(t))
	}
	for _, ip := range r.IPs {
		addrs := strings.Join(pod.Addrs(t), "\n")
		if !strings.Contains(addrs, ip.Address.String()) {
			t.Fatalf("result address %s not on the pod:\n%s", ip.Address.String(), addrs)
		}
	}
	if err := rt.Check(ctx, list, att); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := rt.Status(ctx, list); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	for _, l := range node.LinkNames(t) {
		if strings.HasPrefix(l, "veth") {
			t.Fatalf("veth %s left on the node after DEL (before ADD: %v)", l, before)
		}
	}
}

// localize points the example's state paths into dir and returns the plugin
// types it uses. For an overlay example it also gives the node the VTEP
// address of the peer whose subnet the node's IPAM serves, so the node is
// that peer.
func localize(t *testing.T, list *libcni.NetworkConfigList, confDir, dir string, node *testutil.ClusterNode) []string {
	t.Helper()
	var types []string
	var subnet string
	for i, p := range list.Plugins {
		var m map[string]any
		if err := json.Unmarshal(p.Bytes, &m); err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Network.Type)
		if ipam, ok := m["ipam"].(map[string]any); ok {
			ipam["dataDir"] = filepath.Join(dir, "ipam")
			types = append(types, p.Network.IPAM.Type)
			subnet = firstSubnet(ipam)
		}
		if p.Network.Type == "vxlan" {
			m["dataDir"] = filepath.Join(dir, "vxlan")
			if pf, ok := m["peersFile"].(string); ok {
				m["peersFile"] = filepath.Join(confDir, filepath.Base(pf))
			}
			becomePeer(t, m, confDir, subnet, node)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		conf, err := libcni.NetworkPluginConfFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		list.Plugins[i] = conf
	}
	return types
}

func firstSubnet(ipam map[string]any) string {
	if s, ok := ipam["subnet"].(string); ok {
		return s
	}
	ranges, _ := ipam["ranges"].([]any)
	for _, set := range ranges {
		for _, r := range set.([]any) {
			if s, ok := r.(map[string]any)["subnet"].(string); ok {
				return s
			}
		}
	}
	return ""
}

// becomePeer adds the VTEP address of the peer serving subnet to the node's
// underlay device and makes it the source of the default route, where the
// vxlan plugin looks for its own address.
func becomePeer(t *testing.T, vx map[string]any, confDir, subnet string, node *testutil.ClusterNode) {
	t.Helper()
	var peers []map[string]any
	if raw, ok := vx["peers"].([]any); ok {
		for _, p := range raw {
			peers = append(peers, p.(map[string]any))
		}
	}
	if pf, ok := vx["peersFile"].(string); ok {
		data, err := os.ReadFile(pf)
		if err != nil {
			t.Fatalf("read peersFile of the example: %v", err)
		}
		var filePeers []map[string]any
		if err := json.Unmarshal(data, &filePeers); err != nil {
			var wrapped struct {
				Peers []map[string]any `json:"peers"`
			}
			if err2 := json.Unmarshal(data, &wrapped); err2 != nil {
				t.Fatalf("parse peersFile of the example: %v", err)
			}
			filePeers = wrapped.Peers
		}
		peers = append(peers, filePeers...)
	}
	for _, p := range peers {
		if p["subnet"] == subnet {
			vtep, _ := p["vtepIP"].(string)
			node.MustExec(t, "ip", "addr", "add", vtep+"/32", "dev", node.Dev)
			node.MustExec(t, "ip", "route", "replace", "default", "via", testutil.OutsideV4, "dev", node.Dev, "src", vtep)
			return
		}
	}
	t.Fatalf("no peer in the overlay example serves the node's subnet %q", subnet)
}
