package netfilter

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/pkg/testutil"
)

// hpTopo is a node with a pod behind a veth (vpod, 10.1.0.1/24 and
// fd00:1::1/64 on the node side) and a client host on another veth (vcli:
// node addresses 192.0.2.10, 192.0.2.11 and 2001:db8::10; client .20 and
// 2001:db8::20, routing the pod subnet through the node).
type hpTopo struct {
	node        *testutil.Node
	pod, client *testutil.NetNS
}

func newHPTopo(t *testing.T) *hpTopo {
	t.Helper()
	tp := &hpTopo{node: testutil.NewNode(t, "node"), pod: testutil.NewNetNS(t, "pod"), client: testutil.NewNetNS(t, "client")}
	n := tp.node
	n.MustExec(t, "ip", "link", "add", "vpod", "type", "veth", "peer", "name", "eth0", "netns", tp.pod.Name)
	n.MustExec(t, "ip", "link", "add", "vcli", "type", "veth", "peer", "name", "eth0", "netns", tp.client.Name)
	n.MustExec(t, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	for _, a := range [][]string{{"10.1.0.1/24", "vpod"}, {"fd00:1::1/64", "vpod"}, {"192.0.2.10/24", "vcli"}, {"192.0.2.11/24", "vcli"}, {"2001:db8::10/64", "vcli"}} {
		n.MustExec(t, "ip", "addr", "add", a[0], "dev", a[1], "nodad")
	}
	n.MustExec(t, "ip", "link", "set", "vpod", "up")
	n.MustExec(t, "ip", "link", "set", "vcli", "up")
	for _, side := range []struct {
		ns           *testutil.NetNS
		v4, v6, gw4  string
		gw6, route4  string
		routeVia4    string
		defaultRoute bool
	}{
		{ns: tp.pod, v4: "10.1.0.2/24", v6: "fd00:1::2/64", gw4: "10.1.0.1", gw6: "fd00:1::1", defaultRoute: true},
		{ns: tp.client, v4: "192.0.2.20/24", v6: "2001:db8::20/64", route4: "10.1.0.0/24", routeVia4: "192.0.2.10"},
	} {
		side.ns.MustExec(t, "ip", "addr", "add", side.v4, "dev", "eth0")
		side.ns.MustExec(t, "ip", "addr", "add", side.v6, "dev", "eth0", "nodad")
		side.ns.MustExec(t, "ip", "link", "set", "eth0", "up")
		if side.defaultRoute {
			side.ns.MustExec(t, "ip", "route", "add", "default", "via", side.gw4)
			side.ns.MustExec(t, "ip", "-6", "route", "add", "default", "via", side.gw6)
		} else {
			side.ns.MustExec(t, "ip", "route", "add", side.route4, "via", side.routeVia4)
		}
	}
	return tp
}

// hpKernel builds a backend against the kernel with a private lock file.
func hpKernel(t *testing.T, b Backend) HostPorts {
	lock := filepath.Join(t.TempDir(), "hostport.lock")
	log := slog.New(slog.DiscardHandler)
	if b == NFTables {
		return &hpNFTables{nft: newHPNFTKernel(), sysctl: hpProcSysctl{root: "/proc/sys"}, lockPath: lock, log: log}
	}
	return &hpIPTables{r: ExecRestorer{}, inUse: hpIPTablesMaybeInUse, sysctl: hpProcSysctl{root: "/proc/sys"}, lockPath: lock, log: log}
}

// hpSeedIPTables makes iptables-nft create the builtin chains the
// scaffolding uses, as on any node that runs kube-proxy or docker: they are
// iptables' own and stay after our GC.
func hpSeedIPTables(t *testing.T, n *testutil.NetNS) {
	for _, tool := range []string{"iptables", "ip6tables"} {
		for _, tc := range [][2]string{{"nat", "PREROUTING"}, {"nat", "OUTPUT"}, {"nat", "POSTROUTING"}, {"filter", "INPUT"}} {
			n.MustExec(t, tool, "-w", "-t", tc[0], "-A", tc[1], "-j", "RETURN")
			n.MustExec(t, tool, "-w", "-t", tc[0], "-D", tc[1], "-j", "RETURN")
		}
	}
}

// hpDialPeer dials addr from ns and returns the source address the pod saw.
func hpDialPeer(t *testing.T, from *testutil.NetNS, proto, addr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer, err := testutil.DialRetry(ctx, from, proto, addr)
	if err != nil {
		t.Fatalf("%s %s from %s: %v", proto, addr, from.Name, err)
	}
	return testutil.PeerIP(peer)
}

func hpMustNotReach(t *testing.T, from *testutil.NetNS, proto, addr string) {
	t.Helper()
	if peer, err := testutil.Dial(from, proto, addr, 700*time.Millisecond); err == nil {
		t.Fatalf("%s %s from %s reached the pod (it saw %s), want no answer", proto, addr, from.Name, peer)
	}
}

// TestPrivilegedHostPortTraffic applies real rules with each backend and
// pushes traffic: from another host, from the node, from localhost, from
// the pod itself (hairpin), over UDP and IPv6, with a hostIP restriction;
// traffic not addressed to the node is left alone; DEL stops forwarding
// and GC returns the node to its netfilter state before the first ADD.
func TestPrivilegedHostPortTraffic(t *testing.T) {
	for _, b := range []Backend{NFTables, IPTables} {
		t.Run(string(b), func(t *testing.T) {
			tp := newHPTopo(t)
			n := tp.node
			testutil.RequireFeature(t, string(b), n.Do(func() error { return Usable(b) }))
			if b == IPTables {
				hpSeedIPTables(t, n.NetNS)
			}
			before := n.Netfilter(t)
			testutil.StartEcho(t, tp.pod, "tcp", "[::]:80")
			testutil.StartEcho(t, tp.pod, "udp", "0.0.0.0:53")
			hp := hpKernel(t, b)
			ctx := context.Background()
			spec := HostPortSpec{
				Owner: HostPortOwner{Network: "mynet", ContainerID: "ctr1", IfName: "eth0"},
				Mappings: []HostPort{
					hpMap("tcp", "", 8080, "10.1.0.2", 80), hpMap("tcp", "", 8080, "fd00:1::2", 80),
					hpMap("udp", "", 5353, "10.1.0.2", 53), hpMap("tcp", "192.0.2.10", 8181, "10.1.0.2", 80),
				},
				SNAT: true, MarkMasqBit: 13, LocalnetIface: "vpod",
			}
			if err := n.Do(func() error { return hp.EnsureHostPorts(ctx, spec) }); err != nil {
				t.Fatal(err)
			}
			if err := n.Do(func() error { return hp.CheckHostPorts(ctx, spec) }); err != nil {
				t.Fatalf("CHECK: %v\n%s", err, n.Netfilter(t))
			}
			for _, c := range []struct {
				name, proto, addr, from, want string
			}{
				{"other host", "tcp", "192.0.2.10:8080", "client", "192.0.2.20"},
				{"other host, second node address", "tcp", "192.0.2.11:8080", "client", "192.0.2.20"},
				{"other host, hostIP", "tcp", "192.0.2.10:8181", "client", "192.0.2.20"},
				{"other host, UDP", "udp", "192.0.2.10:5353", "client", "192.0.2.20"},
				{"other host, IPv6", "tcp", "[2001:db8::10]:8080", "client", "2001:db8::20"},
				{"node via its own address", "tcp", "192.0.2.10:8080", "node", "192.0.2.10"},
				{"node via localhost", "tcp", "127.0.0.1:8080", "node", "10.1.0.1"},
				{"hairpin", "tcp", "192.0.2.10:8080", "pod", "10.1.0.1"},
				{"hairpin IPv6", "tcp", "[2001:db8::10]:8080", "pod", "fd00:1::1"},
			} {
				from := map[string]*testutil.NetNS{"client": tp.client, "node": n.NetNS, "pod": tp.pod}[c.from]
				if got := hpDialPeer(t, from, c.proto, c.addr); got != c.want {
					t.Errorf("%s: the pod saw %s, want %s", c.name, got, c.want)
				}
			}
			if got := n.Sysctl(t, "net/ipv4/conf/vpod/route_localnet"); got != "1" {
				t.Errorf("route_localnet on vpod = %s, want 1", got)
			}
			hpMustNotReach(t, tp.client, "tcp", "192.0.2.11:8181") // hostIP restriction
			hpMustNotReach(t, tp.client, "tcp", "10.1.0.2:8080")   // passes through the node, not addressed to it

			removed, err := hpDo(n, func() ([]HostPort, error) { return hp.DeleteHostPorts(ctx, spec.Owner, nil) })
			if err != nil || len(removed) != 4 {
				t.Fatalf("DEL: removed %v, %v", removed, err)
			}
			hpMustNotReach(t, tp.client, "tcp", "192.0.2.10:8080")
			if _, err := hpDo(n, func() ([]HostPort, error) { return hp.DeleteHostPorts(ctx, spec.Owner, nil) }); err != nil {
				t.Fatalf("second DEL: %v", err)
			}
			if _, err := hpDo(n, func() ([]HostPort, error) { return hp.GCHostPorts(ctx, "mynet", nil) }); err != nil {
				t.Fatal(err)
			}
			if after := n.Netfilter(t); after != before {
				t.Fatalf("netfilter state after DEL and GC differs from before ADD:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			if got := n.Sysctl(t, "net/ipv4/conf/vpod/route_localnet"); got != "0" {
				t.Errorf("route_localnet on vpod = %s after GC, want 0", got)
			}
		})
	}
}

func hpDo(n *testutil.Node, fn func() ([]HostPort, error)) ([]HostPort, error) {
	var out []HostPort
	err := n.Do(func() error {
		var err error
		out, err = fn()
		return err
	})
	return out, err
}

// TestPrivilegedHostPortMartianDrop proves the CVE-2020-8558 mitigation:
// with route_localnet on, a pod that routes 127.0.0.1 to the node reaches
// a node service bound to localhost, unless the drop rule is there.
func TestPrivilegedHostPortMartianDrop(t *testing.T) {
	for _, b := range []Backend{NFTables, IPTables} {
		t.Run(string(b), func(t *testing.T) {
			tp := newHPTopo(t)
			n := tp.node
			testutil.RequireFeature(t, string(b), n.Do(func() error { return Usable(b) }))
			testutil.StartEcho(t, n.NetNS, "tcp", "127.0.0.1:7070")
			// The pod sends 127.0.0.1 out of eth0 to the node.
			p := tp.pod
			p.MustExec(t, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1")
			p.MustExec(t, "ip", "route", "add", "127.0.0.1/32", "via", "10.1.0.1", "dev", "eth0", "table", "100")
			p.MustExec(t, "ip", "rule", "add", "pref", "10", "to", "127.0.0.1", "iif", "lo", "lookup", "100")
			p.MustExec(t, "ip", "rule", "del", "pref", "0")
			p.MustExec(t, "ip", "rule", "add", "pref", "20", "lookup", "local")
			// Control: route_localnet alone exposes the node's localhost.
			n.MustExec(t, "sysctl", "-qw", "net.ipv4.conf.vpod.route_localnet=1")
			if _, err := testutil.DialRetry(hpTimeout(t, 3*time.Second), p, "tcp", "127.0.0.1:7070"); err != nil {
				t.Skipf("cannot route 127.0.0.1 from the pod to the node here, so the exposure cannot be shown: %v", err)
			}
			n.MustExec(t, "sysctl", "-qw", "net.ipv4.conf.vpod.route_localnet=0")
			hp := hpKernel(t, b)
			spec := HostPortSpec{Owner: HostPortOwner{Network: "mynet", ContainerID: "ctr1", IfName: "eth0"},
				Mappings: []HostPort{hpMap("tcp", "", 8080, "10.1.0.2", 80)}, SNAT: true, MarkMasqBit: 13, LocalnetIface: "vpod"}
			if err := n.Do(func() error { return hp.EnsureHostPorts(context.Background(), spec) }); err != nil {
				t.Fatal(err)
			}
			if got := n.Sysctl(t, "net/ipv4/conf/vpod/route_localnet"); got != "1" {
				t.Fatalf("route_localnet = %s after ADD, want 1", got)
			}
			hpMustNotReach(t, p, "tcp", "127.0.0.1:7070")
			if !strings.Contains(n.Netfilter(t), "127.0.0.0/8") {
				t.Fatal("no martian rule in the dump")
			}
		})
	}
}

func hpTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestPrivilegedHostPortIPTablesInUse: a fresh node has no iptables state
// of ours (DEL skips iptables-save there); after an iptables ADD it has.
func TestPrivilegedHostPortIPTablesInUse(t *testing.T) {
	n := testutil.NewNetNS(t, "inuse")
	testutil.RequireFeature(t, "iptables", n.Do(func() error { return Usable(IPTables) }))
	inUse := func(f Family) (b bool) {
		_ = n.Do(func() error { b = hpIPTablesMaybeInUse(f); return nil })
		return b
	}
	if inUse(IPv4) || inUse(IPv6) {
		t.Fatal("a fresh namespace reports iptables host-port state")
	}
	n.MustExec(t, "iptables", "-w", "-t", "nat", "-N", hpIPTDNAT)
	if !inUse(IPv4) || inUse(IPv6) {
		t.Fatalf("after creating %s in the IPv4 nat table: v4 %v, v6 %v", hpIPTDNAT, inUse(IPv4), inUse(IPv6))
	}
}

// TestPrivilegedHostPortNetlinkElements: once the scaffolding exists, ADD
// and DEL write elements over netlink; nft must read back exactly what the
// plan says (every element kind: hostIP, any address, both families,
// conditions, every masquerade set, localnet), and a takeover must swap the
// owner in one batch.
func TestPrivilegedHostPortNetlinkElements(t *testing.T) {
	n := testutil.NewNode(t, "node")
	testutil.RequireFeature(t, "nftables", n.Do(func() error { return Usable(NFTables) }))
	n.MustExec(t, "ip", "link", "add", "cni0", "type", "bridge")
	hp := hpKernel(t, NFTables)
	ctx := context.Background()
	do := func(fn func() error) {
		t.Helper()
		if err := n.Do(fn); err != nil {
			t.Fatal(err)
		}
	}
	do(func() error { return hp.EnsureHostPorts(ctx, hpSpecN(100)) }) // scaffolding, through nft
	spec := hpSpecDual(2)
	spec.LocalnetIface = "cni0"
	spec.ConditionsV6 = []string{"ip6", "saddr", "!=", "2001:db8::/32"}
	second := HostPortSpec{Owner: hpOwner(3), SNAT: true, MasqAll: true,
		Mappings: []HostPort{hpMap("udp", "2001:db8::10", 53, "fd00:1::9", 53), hpMap("tcp", "", 443, "10.1.0.9", 8443)}}
	do(func() error { return hp.EnsureHostPorts(ctx, spec) })
	do(func() error { return hp.EnsureHostPorts(ctx, second) })
	for _, s := range []HostPortSpec{hpSpecN(100), spec, second} {
		do(func() error { return hp.CheckHostPorts(ctx, s) })
	}
	listing := n.MustExec(t, "nft", "list", "table", "inet", hpNFTTable)
	for _, want := range []string{
		`192.0.2.10 . udp . 5353 comment "mynet/eth0/ctr2" : 10.1.0.3 . 53`,
		`tcp . 8080 comment "mynet/eth0/ctr2" : fd00:1::3 . 80`,
		`10.1.0.3 . tcp . 80 . 10.1.0.3 comment "mynet/eth0/ctr2"`,
		`10.1.0.3 . udp . 53 comment "mynet/eth0/ctr2"`,
		`10.1.0.9 . tcp . 8443 comment "mynet/eth0/ctr3"`,
		`fd00:1::9 . udp . 53 comment "mynet/eth0/ctr3"`,
		`2001:db8::10 . udp . 53 comment "mynet/eth0/ctr3" : fd00:1::9 . 53`,
		`"cni0" comment "podnet: route_localnet turned on by portmap"`,
		`goto ` + hpCondChainName(true, spec.ConditionsV6),
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("nft does not show %q:\n%s", want, listing)
		}
	}
	// Pod 4 takes pod 2's TCP port 8080 on the same address and port.
	taker := HostPortSpec{Owner: hpOwner(4), Mappings: []HostPort{hpMap("tcp", "", 8080, "10.1.0.3", 80)}}
	do(func() error { return hp.EnsureHostPorts(ctx, taker) })
	do(func() error { return hp.CheckHostPorts(ctx, taker) })
	// DEL with the keys the runtime passes: lookups, no full read. Pod 2
	// lost a port to pod 4, so its count is off and it reads everything.
	for _, s := range []HostPortSpec{hpSpecN(100), spec, second, taker} {
		removed, err := hpDo(n, func() ([]HostPort, error) { return hp.DeleteHostPorts(ctx, s.Owner, hpKeys(s)) })
		if err != nil {
			t.Fatal(err)
		}
		want := len(s.Mappings)
		if s.Owner == spec.Owner {
			want-- // tcp 8080 IPv4 went to pod 4
		}
		if len(removed) != want {
			t.Fatalf("DEL of %s removed %v, want %d mappings", s.Owner.Tag(), removed, want)
		}
	}
	listing = n.MustExec(t, "nft", "list", "table", "inet", hpNFTTable)
	if strings.Contains(listing, "mynet/") {
		t.Fatalf("elements left after DEL of every owner:\n%s", listing)
	}
}

// TestPrivilegedHostPortConditions: one attachment's conditions apply to
// its mappings only, whichever ADD came last (the reference's nftables
// backend made them global, last writer wins).
func TestPrivilegedHostPortConditions(t *testing.T) {
	conds := map[Backend][]string{NFTables: {"ip", "saddr", "!=", "192.0.2.20"}, IPTables: {"!", "-s", "192.0.2.20/32"}}
	for _, b := range []Backend{NFTables, IPTables} {
		t.Run(string(b), func(t *testing.T) {
			tp := newHPTopo(t)
			n := tp.node
			testutil.RequireFeature(t, string(b), n.Do(func() error { return Usable(b) }))
			testutil.StartEcho(t, tp.pod, "tcp", "0.0.0.0:80")
			hp := hpKernel(t, b)
			ctx := context.Background()
			guarded := HostPortSpec{Owner: hpOwner(1), Mappings: []HostPort{hpMap("tcp", "", 8080, "10.1.0.2", 80)}, ConditionsV4: conds[b]}
			open := HostPortSpec{Owner: hpOwner(2), Mappings: []HostPort{hpMap("tcp", "", 8081, "10.1.0.2", 80)}}
			for _, s := range []HostPortSpec{guarded, open} {
				if err := n.Do(func() error { return hp.EnsureHostPorts(ctx, s) }); err != nil {
					t.Fatal(err)
				}
			}
			if got := hpDialPeer(t, tp.client, "tcp", "192.0.2.10:8081"); got != "192.0.2.20" {
				t.Fatalf("unconditioned port: the pod saw %s", got)
			}
			hpMustNotReach(t, tp.client, "tcp", "192.0.2.10:8080")
			if got := hpDialPeer(t, n.NetNS, "tcp", "192.0.2.10:8080"); got != "192.0.2.10" {
				t.Fatalf("conditioned port from an allowed source: the pod saw %s", got)
			}
		})
	}
}
