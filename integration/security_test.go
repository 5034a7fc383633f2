package integration

import (
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podnet/podnet/pkg/testutil"
)

// secConfigs are a working config of every plugin for the security checks,
// with their state under dir.
func secConfigs(t *testing.T, dir string, pod *testutil.Pod) map[string]string {
	prev := prevResultFor(pod, "10.45.1.2/24")
	mk := func(m map[string]any) string {
		m["cniVersion"], m["name"] = "1.1.0", "sec-net"
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return map[string]string{
		"loopback":   mk(map[string]any{"type": "loopback"}),
		"host-local": mk(map[string]any{"type": "bridge", "ipam": map[string]any{"type": "host-local", "dataDir": filepath.Join(dir, "ipam"), "subnet": "10.45.1.0/24"}}),
		"bridge": mk(map[string]any{"type": "bridge", "bridge": "cni-sec0", "ipMasq": true, "macspoofchk": true,
			"ipam": map[string]any{"type": "host-local", "dataDir": filepath.Join(dir, "ipam"), "subnet": "10.45.1.0/24"}}),
		"portmap": mk(map[string]any{"type": "portmap", "prevResult": prev,
			"runtimeConfig": map[string]any{"portMappings": []map[string]any{{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}}}}),
		"vxlan": mk(map[string]any{"type": "vxlan", "network": "10.45.0.0/16", "dataDir": filepath.Join(dir, "vxlan"), "prevResult": prev,
			"cni.dev/valid-attachments": []any{}}),
	}
}

// TestSecurityNamesRefusedEverywhere: container IDs and network names with
// "../", "/", NUL, or over-long, are refused by every plugin and every verb
// before any file or rule is touched, even beside the dataDir.
func TestSecurityNamesRefusedEverywhere(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	// The dataDirs are under node.Dir; "../" would climb to its parent,
	// which is watched too.
	watch := filepath.Dir(node.Dir)
	bin := testutil.BinDir(t, "loopback", "host-local", "bridge", "portmap", "vxlan")
	long := strings.Repeat("a", 2000)
	badIDs := []string{"../../x", "a/b", "..", long}
	badNames := []string{"../../x", "a/b", "a\x00b", ".", "..", long[:300]}
	snapshot := func() string {
		return strings.Join(testutil.Files(t, watch), "\n") + "\n" + strings.Join(node.Links(t), "\n") + "\n" + node.Netfilter(t)
	}
	for plugin, good := range secConfigs(t, node.Dir, pod) {
		t.Run(plugin, func(t *testing.T) {
			before := snapshot()
			for _, verb := range []string{"ADD", "DEL", "CHECK", "GC", "STATUS"} {
				env := func(id string) []string {
					return []string{"CNI_COMMAND=" + verb, "CNI_CONTAINERID=" + id, "CNI_NETNS=" + pod.Path, "CNI_IFNAME=eth0", "CNI_PATH=" + bin}
				}
				check := func(what string, env []string, stdin string, codes ...uint) {
					run := testutil.ExecPlugin(t, node.NetNS, filepath.Join(bin, plugin), env, []byte(stdin))
					if run.ExitCode != 1 {
						t.Fatalf("%s %s: exit %d, want 1 (stdout %q)", verb, what, run.ExitCode, run.Stdout)
					}
					if e := run.CNIError(t); e.Code != codes[0] && (len(codes) < 2 || e.Code != codes[1]) {
						t.Fatalf("%s %s: code %d (%s), want %v", verb, what, e.Code, e.Msg, codes)
					}
				}
				for _, name := range badNames {
					check("network name "+strconv.Quote(name[:min(len(name), 20)]), env(pod.ContainerID), withKey(t, good, "name", name), 7)
				}
				if verb == "ADD" || verb == "DEL" || verb == "CHECK" {
					for _, id := range badIDs {
						check("container ID "+strconv.Quote(id[:min(len(id), 20)]), env(id), good, 4)
					}
				}
			}
			if after := snapshot(); after != before {
				t.Fatalf("refused calls touched the node:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// localnetInvariant fails unless every interface with route_localnet=1
// has the martian 127.0.0.0/8 drop rule of the backend in place.
func localnetInvariant(t *testing.T, node *testutil.NetNS, backend, iface, when string) (on bool) {
	t.Helper()
	on = node.Sysctl(t, "net/ipv4/conf/"+iface+"/route_localnet") == "1"
	nf := node.Netfilter(t)
	var guarded bool
	switch backend {
	case "nftables":
		set, _ := node.Exec("nft", "list", "set", "inet", "podnet-hostport", "localnet")
		guarded = strings.Contains(set, `"`+iface+`"`) &&
			regexp.MustCompile(`iifname @localnet ip daddr 127\.0\.0\.0/8 .*drop`).MatchString(nf)
	case "iptables":
		guarded = regexp.MustCompile(`-A \S+ -d 127\.0\.0\.0/8 -i `+regexp.QuoteMeta(iface)+` .*-j DROP`).MatchString(nf) &&
			strings.Contains(nf, "-A INPUT") && strings.Contains(nf, "martian 127.0.0.0/8 drop")
	}
	if on && !guarded {
		t.Fatalf("%s: route_localnet=1 on %s without the martian drop rule:\n%s", when, iface, nf)
	}
	return on
}

// TestSecurityRouteLocalnet: portmap turns route_localnet on only together
// with the rule dropping new 127.0.0.0/8 traffic arriving on that interface
// (CVE-2020-8558), keeps both while any mapping may need them, and GC turns
// it off with the rule gone. A neighbour on the bridge that sends to
// 127.0.0.1:hostPort through the node is not answered.
func TestSecurityRouteLocalnet(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			_, node := pmCluster(t, backend)
			list := pmNet{DataDir: node.Dir, Bridge: "cni-loc0", Portmap: sprintf(`, "backend": %q`, backend)}.list(t)
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			if localnetInvariant(t, node.NetNS, backend, "all", "before ADD") {
				t.Fatal("route_localnet already on for all before the test")
			}
			web := testutil.NewPod(t, "web")
			webAtt := testutil.Attachment{Pod: web, IfName: "eth0", Caps: pmCaps([]any{8080, 80, "tcp"})}
			if _, err := rt.Add(ctx, list, webAtt); err != nil {
				t.Fatal(err)
			}
			if !localnetInvariant(t, node.NetNS, backend, "cni-loc0", "after ADD") {
				t.Fatal("route_localnet not on for cni-loc0 after an ADD with snat: localhost:hostPort cannot work")
			}
			testutil.StartEcho(t, web.NetNS, "tcp", "0.0.0.0:80")
			if peer := pmPeer(t, node.NetNS, "tcp", "127.0.0.1:8080"); peer == "" {
				t.Fatal("localhost:hostPort not forwarded")
			}
			// An attacker on the bridge sends to 127.0.0.1:8080 with the
			// node's bridge MAC as next hop: route_localnet would accept it,
			// the drop rule must not.
			evil := testutil.NewPod(t, "evil")
			evilAtt := testutil.Attachment{Pod: evil, IfName: "eth0"}
			if _, err := rt.Add(ctx, list, evilAtt); err != nil {
				t.Fatal(err)
			}
			evil.MustExec(t, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1")
			evil.MustExec(t, "ip", "route", "add", "127.0.0.128/32", "via", "10.244.0.1", "dev", "eth0")
			node.MustExec(t, "ip", "addr", "add", "127.0.0.128/32", "dev", "lo")
			echo := testutil.StartEcho(t, node.NetNS, "tcp", "127.0.0.128:9090")
			if peer, err := testutil.Dial(evil.NetNS, "tcp", "127.0.0.128:9090", 700*time.Millisecond); err == nil {
				t.Fatalf("a pod reached the node's 127.0.0.128:9090 through the bridge (seen as %s)", peer)
			}
			if p := echo.Peers(); len(p) != 0 {
				t.Fatalf("the node's loopback service accepted martian connections from %v", p)
			}
			for _, a := range []testutil.Attachment{webAtt, evilAtt} {
				if err := rt.Del(ctx, list, a); err != nil {
					t.Fatal(err)
				}
				localnetInvariant(t, node.NetNS, backend, "cni-loc0", "after DEL")
			}
			if err := rt.GC(ctx, list); err != nil {
				t.Fatal(err)
			}
			if localnetInvariant(t, node.NetNS, backend, "cni-loc0", "after GC") {
				t.Fatal("route_localnet still on for cni-loc0 after GC removed every mapping")
			}
		})
	}
}

// TestSecurityHostPortOnlyToNode: a hostPort mapping forwards traffic
// addressed to the node (positive control) and not traffic merely routed
// through it to another address with the same port; a hostIP mapping is
// reached on that address only.
func TestSecurityHostPortOnlyToNode(t *testing.T) {
	for _, backend := range pmBackends {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			c, node := pmCluster(t, backend)
			node.MustExec(t, "ip", "addr", "add", "192.0.2.99/24", "dev", "eth0")
			list := pmNet{DataDir: node.Dir, Bridge: "cni-hp0", Portmap: sprintf(`, "backend": %q`, backend)}.list(t)
			rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "portmap")
			pod := testutil.NewPod(t, "web")
			att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: pmCaps([]any{8080, 80, "tcp"}, []any{8081, 81, "tcp", "192.0.2.99"})}
			if _, err := rt.Add(ctx, list, att); err != nil {
				t.Fatal(err)
			}
			web := testutil.StartEcho(t, pod.NetNS, "tcp", "0.0.0.0:80")
			web81 := testutil.StartEcho(t, pod.NetNS, "tcp", "0.0.0.0:81")
			if got := pmPeer(t, c.Outside, "tcp", node.V4+":8080"); got != testutil.OutsideV4 {
				t.Fatalf("hostPort via the node address: the pod saw %s, want %s", got, testutil.OutsideV4)
			}
			// 198.51.100.7 is not the node's; the outside host routes it
			// through the node, which forwards it on (and back out).
			c.Outside.MustExec(t, "ip", "route", "add", "198.51.100.0/24", "via", node.V4)
			seen := len(web.Peers())
			pmUnreachable(t, c.Outside, "tcp", "198.51.100.7:8080")
			if n := len(web.Peers()); n != seen {
				t.Fatalf("traffic to 198.51.100.7:8080 (not the node) was DNATed to the pod: %v", web.Peers()[seen:])
			}
			// hostIP: only 192.0.2.99:8081, not the node's other address.
			if got := pmPeer(t, c.Outside, "tcp", "192.0.2.99:8081"); got != testutil.OutsideV4 {
				t.Fatalf("hostIP mapping: the pod saw %s", got)
			}
			seen81 := len(web81.Peers())
			pmUnreachable(t, c.Outside, "tcp", node.V4+":8081")
			if n := len(web81.Peers()); n != seen81 {
				t.Fatalf("hostIP 192.0.2.99 mapping answered on %s: %v", node.V4, web81.Peers()[seen81:])
			}
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSecurityAcceptRA: the bridge and the host veths ignore router
// advertisements (accept_ra=0), so no RA on a pod segment can give the node
// an address or a default route.
func TestSecurityAcceptRA(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	node.MustExec(t, "sysctl", "-qw", "net.ipv6.conf.default.accept_ra=1")
	list := testutil.ConfList(t, sprintf(`{"cniVersion":"1.1.0","name":"ra-net","plugins":[{"type":"bridge","bridge":"cni-ra0","isGateway":true,
		"ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.46.0.0/24"}],[{"subnet":"fd00:46::/64"}]]}}]}`, node.Dir))
	rt := testutil.NewRuntime(t, node, "bridge", "host-local")
	pod := testutil.NewPod(t, "pod")
	att := testutil.Attachment{Pod: pod, IfName: "eth0"}
	if _, err := rt.Add(ctx, list, att); err != nil {
		t.Fatal(err)
	}
	links := append([]string{"cni-ra0"}, vethsOn(t, node.NetNS)...)
	if len(links) != 2 {
		t.Fatalf("want the bridge and one host veth, got %v", links)
	}
	for _, l := range links {
		if v := node.Sysctl(t, "net/ipv6/conf/"+l+"/accept_ra"); v != "0" {
			t.Errorf("%s: accept_ra=%s, want 0", l, v)
		}
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatal(err)
	}
}

// TestSecurityFileModes: with umask 0, every directory the plugins create
// under their dataDirs is 0700 at most and every file 0600 at most, and the
// logFile is 0600.
func TestSecurityFileModes(t *testing.T) {
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	state := filepath.Join(node.Dir, "state")
	list := testutil.ConfList(t, sprintf(`{"cniVersion":"1.1.0","name":"modes","plugins":[
		{"type":"bridge","bridge":"cni-mode0","isGateway":true,"ipMasq":true,"logFile":%q,"logLevel":"debug",
		 "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.47.1.0/24"}]]}},
		{"type":"vxlan","network":"10.47.0.0/16","dataDir":%q,"logFile":%q},
		{"type":"portmap","capabilities":{"portMappings":true}},
		{"type":"loopback"}]}`,
		filepath.Join(state, "log", "bridge.log"), filepath.Join(state, "ipam"), filepath.Join(state, "vxlan"), filepath.Join(state, "log", "vxlan.log")))
	if err := os.MkdirAll(filepath.Join(state, "log"), 0o700); err != nil {
		t.Fatal(err)
	}
	rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "vxlan", "portmap", "loopback")
	pod := testutil.NewPod(t, "pod")
	att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: pmCaps([]any{8080, 80, "tcp"})}
	if _, err := rt.Add(ctx, list, att); err != nil {
		t.Fatal(err)
	}
	var seen int
	err := filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == state || p == filepath.Join(state, "log") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		seen++
		if perm := info.Mode().Perm(); perm&0o077 != 0 || (!d.IsDir() && perm&0o111 != 0) {
			t.Errorf("%s: mode %v, want 0700 for a directory and 0600 for a file", p, info.Mode())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 4 {
		t.Fatalf("only %d entries under %s: the plugins did not write their state there", seen, state)
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatal(err)
	}
}

// shells are program names that would interpret a string as a command.
var shells = map[string]bool{"sh": true, "bash": true, "dash": true, "zsh": true, "ash": true, "ksh": true, "busybox": true}

// TestSecurityNoShell: no non-test code of a plugin or package execs a
// shell or passes "-c": every external command (nft, iptables-restore,
// iptables-save) takes user-provided strings as separate arguments or on
// stdin. A canary sh on PATH proves it at run time for a full ADD, CHECK,
// DEL and GC of every plugin.
func TestSecurityNoShell(t *testing.T) {
	root := testutil.RepoRoot(t)
	fset := token.NewFileSet()
	for _, top := range []string{"plugins", "pkg"} {
		err := filepath.WalkDir(filepath.Join(root, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testutil" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, p, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				for _, a := range call.Args {
					lit, ok := a.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					s, _ := strconv.Unquote(lit.Value)
					if shells[filepath.Base(s)] || s == "-c" {
						t.Errorf("%s: call with %q: plugins must not run a shell", fset.Position(lit.Pos()), s)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Run time: every shell name on PATH is a canary that records its use.
	canaries := t.TempDir()
	marks := filepath.Join(t.TempDir(), "shell-used")
	for name := range shells {
		script := "#!/bin/sh\necho \"$0 $*\" >> " + marks + "\nexit 1\n"
		if err := os.WriteFile(filepath.Join(canaries, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", canaries+":"+os.Getenv("PATH"))
	ctx := context.Background()
	c := testutil.NewCluster(t, 1, testutil.ClusterOptions{})
	node := c.Nodes[0]
	list := testutil.ConfList(t, sprintf(`{"cniVersion":"1.1.0","name":"noshell","plugins":[
		{"type":"bridge","bridge":"cni-sh0","isGateway":true,"macspoofchk":true,
		 "ipam":{"type":"host-local","dataDir":%q,"ranges":[[{"subnet":"10.48.1.0/24"}]]}},
		{"type":"vxlan","network":"10.48.0.0/16","dataDir":%q,"ipMasq":true},
		{"type":"portmap","capabilities":{"portMappings":true},"conditionsV4":["ip","saddr","!=","10.255.0.0/16"]},
		{"type":"loopback"}]}`, node.Dir, filepath.Join(node.Dir, "vxlan")))
	rt := testutil.NewRuntime(t, node.Node, "bridge", "host-local", "vxlan", "portmap", "loopback")
	pod := testutil.NewPod(t, "pod")
	att := testutil.Attachment{Pod: pod, IfName: "eth0", Caps: pmCaps([]any{8080, 80, "tcp"})}
	if _, err := rt.Add(ctx, list, att); err != nil {
		t.Fatal(err)
	}
	if err := rt.Check(ctx, list, att); err != nil {
		t.Fatal(err)
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatal(err)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatal(err)
	}
	if used, err := os.ReadFile(marks); err == nil {
		t.Fatalf("a plugin ran a shell:\n%s", used)
	}
}
