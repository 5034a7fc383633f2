package main

import (
	"encoding/json"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"
)

var update = flag.Bool("update", false, "rewrite the testdata goldens")

// golden compares got with testdata/<name>.golden (or rewrites it with
// -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("%s:\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func mustConf(t *testing.T, s string) *netConf {
	t.Helper()
	c, err := parseConf([]byte(s), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ipamResult(t *testing.T, s string) *current.Result {
	t.Helper()
	r := &current.Result{}
	if err := json.Unmarshal([]byte(s), r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHostVethName(t *testing.T) {
	a := hostVethName("net", "cid", "eth0")
	if len(a) != 12 || a[:4] != "veth" {
		t.Fatalf("host veth name %q: want veth + 8 hex digits", a)
	}
	if a != hostVethName("net", "cid", "eth0") {
		t.Fatal("name is not stable")
	}
	for _, other := range []string{hostVethName("net2", "cid", "eth0"), hostVethName("net", "cid2", "eth0"), hostVethName("net", "cid", "eth1")} {
		if other == a {
			t.Fatalf("two attachments share the host veth name %q", a)
		}
	}
}

func TestPlanLinksGolden(t *testing.T) {
	c := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"br9","mtu":1400,
		"hairpinMode":true,"portIsolation":true,"vlan":10,"vlanTrunk":[{"id":20}],"enabledad":true,
		"runtimeConfig":{"mac":"0a:58:0a:00:00:05"}}`)
	p := planLinks(c, "cid", "eth0")
	golden(t, "links_vlan", p.render())
	l2 := planLinks(mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","promiscMode":true,"disableContainerInterface":true}`), "cid", "net1")
	golden(t, "links_l2", l2.render())
}

func TestPlanAddrsDualStackGolden(t *testing.T) {
	c := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","isDefaultGateway":true,"ipMasq":true,
		"ipam":{"type":"host-local"}}`)
	r := ipamResult(t, `{"cniVersion":"1.1.0",
		"ips":[{"address":"10.22.0.5/16","gateway":"10.22.0.1"},{"address":"fd00:22::5/64"}],
		"routes":[{"dst":"10.99.0.0/16"}],
		"dns":{"nameservers":["10.22.0.10"]}}`)
	p, err := planAddrs(c, r)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "addrs_dualstack", p.render("eth0", "cni0"))
	res := buildResult(linkInfo{"cni0", "0a:00:00:00:00:01", 1500}, linkInfo{"veth12345678", "0a:00:00:00:00:02", 1500},
		linkInfo{"eth0", "0a:00:00:00:00:03", 1500}, nil, "/var/run/netns/p", p)
	out, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "result_dualstack", string(out)+"\n")
	if len(r.Routes) != 1 || r.IPs[0].Interface != nil || r.IPs[1].Gateway != nil || !r.IPs[0].Gateway.Equal(net.ParseIP("10.22.0.1")) {
		t.Fatal("planAddrs modified the IPAM result")
	}
}

func TestPlanAddrsKeepsIPAMDefaultRoute(t *testing.T) {
	c := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","isDefaultGateway":true,"ipam":{"type":"x"},
		"dns":{"nameservers":["1.1.1.1"]}}`)
	r := ipamResult(t, `{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.9/24"}],
		"routes":[{"dst":"0.0.0.0/0","gw":"10.0.0.254"}],"dns":{"nameservers":["10.0.0.53"]}}`)
	p, err := planAddrs(c, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Result.Routes) != 1 || p.Result.Routes[0].GW.String() != "10.0.0.254" {
		t.Fatalf("routes = %v, want IPAM's default route kept and none added", p.Result.Routes)
	}
	if got := p.Result.DNS.Nameservers; len(got) != 1 || got[0] != "1.1.1.1" {
		t.Fatalf("dns = %v, want the config's dns to replace IPAM's", got)
	}
	if p.Forward6 || !p.Forward4 || len(p.Masq) != 0 {
		t.Fatalf("forward4 %v forward6 %v masq %v", p.Forward4, p.Forward6, p.Masq)
	}
	if g := p.Gateways; len(g) != 1 || g[0].String() != "10.0.0.1/24" {
		t.Fatalf("gateways = %v, want the implied 10.0.0.1/24", g)
	}
}

func TestPlanAddrsNoGateway(t *testing.T) {
	c := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","ipam":{"type":"x"}}`)
	r := ipamResult(t, `{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.9/24"}],"routes":[{"dst":"10.1.0.0/16"}]}`)
	p, err := planAddrs(c, r)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Gateways) != 0 || p.Forward4 || p.PodRoutes[0].GW != nil {
		t.Fatalf("without isGateway: gateways %v forward %v route %v", p.Gateways, p.Forward4, p.PodRoutes[0])
	}
	if p.Result.IPs[0].Gateway != nil || *p.Result.IPs[0].Interface != 2 {
		t.Fatalf("result ip = %v", p.Result.IPs[0])
	}
}
