package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

func mustOptions(t *testing.T, conf string) *options {
	t.Helper()
	c, err := decodeConf([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions(c)
	if err != nil {
		t.Fatalf("parseOptions(%s): %v", conf, err)
	}
	return o
}

func TestParseOptionsDefaults(t *testing.T) {
	o := mustOptions(t, `{"cniVersion":"1.1.0","name":"n","type":"portmap"}`)
	if !o.snat || o.masqAll || o.markMasqBit != 13 || o.backend != "" || o.externalSetMarkChain != "" || len(o.mappings) != 0 {
		t.Fatalf("defaults = %+v", o)
	}
	o = mustOptions(t, `{"cniVersion":"1.1.0","name":"n","type":"portmap","snat":false,"masqAll":true,"markMasqBit":0,"backend":"iptables",
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"::"}]}}`)
	if o.snat || !o.masqAll || o.markMasqBit != 0 || o.backend != netfilter.IPTables || len(o.mappings) != 2 || o.mappings[0].protocol != "tcp" {
		t.Fatalf("options = %+v", o)
	}
}

func TestParseOptionsBackendFromOptions(t *testing.T) {
	for _, c := range []struct {
		conf string
		want netfilter.Backend
	}{
		{`"conditionsV4":["-s","192.0.2.0/24"]`, netfilter.IPTables},
		{`"conditionsV6":["!","-i","eth1"]`, netfilter.IPTables},
		{`"externalSetMarkChain":"KUBE-MARK-MASQ"`, netfilter.IPTables},
		{`"conditionsV4":["ip","saddr","192.0.2.0/24"]`, netfilter.NFTables},
		{`"conditionsV4":[]`, ""},
		{`"markMasqBit":14`, ""},
		{`"backend":"nftables","markMasqBit":14`, netfilter.NFTables},
	} {
		o := mustOptions(t, `{"cniVersion":"1.1.0","name":"n","type":"portmap",`+c.conf+`}`)
		if o.backend != c.want {
			t.Errorf("%s: backend %q, want %q", c.conf, o.backend, c.want)
		}
	}
}

// TestParseOptionsBadInput checks that every bad option or mapping is code
// 7 with a message naming it.
func TestParseOptionsBadInput(t *testing.T) {
	pm := func(s string) string { return `"runtimeConfig":{"portMappings":[` + s + `]}` }
	for _, c := range []struct{ conf, msg string }{
		{pm(`{"hostPort":0,"containerPort":80,"protocol":"tcp"}`), "portMappings[0] {hostPort: 0, containerPort: 80"},
		{pm(`{"hostPort":70000,"containerPort":80,"protocol":"tcp"}`), "hostPort 70000 out of range 1-65535"},
		{pm(`{"hostPort":80,"containerPort":-1,"protocol":"tcp"}`), "containerPort -1 out of range"},
		{pm(`{"hostPort":80,"containerPort":65536,"protocol":"tcp"}`), "containerPort 65536 out of range"},
		{pm(`{"hostPort":80,"containerPort":80,"protocol":"icmp"}`), `protocol "icmp": want tcp, udp or sctp`},
		{pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp","hostIP":"node1"}`), `hostIP "node1" is not an IP address`},
		{pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp","hostIP":"10.0.0.0/8"}`), `hostIP "10.0.0.0/8"`},
		{pm(`{"hostPort":80,"containerPort":80,"protocol":"tcp"},{"hostPort":80,"containerPort":81,"protocol":"tcp","hostIP":"0.0.0.0"}`),
			"portMappings[1] {hostPort: 80, containerPort: 81, protocol: \"tcp\", hostIP: \"0.0.0.0\"}: host address, port and protocol already mapped by portMappings[0]"},
		{pm(`{"hostPort":80,"containerPort":80,"protocol":"udp","hostIP":"192.0.2.1"},{"hostPort":80,"containerPort":80,"protocol":"udp","hostIP":"192.0.2.1"}`), "already mapped"},
		{`"markMasqBit":32`, "markMasqBit 32: want 0 to 31"},
		{`"markMasqBit":-1`, "markMasqBit -1"},
		{`"markMasqBit":14,"externalSetMarkChain":"KUBE-MARK-MASQ"`, "markMasqBit and externalSetMarkChain are both set"},
		{`"backend":"ebpf"`, `backend "ebpf"`},
		{`"backend":"nftables","externalSetMarkChain":"KUBE-MARK-MASQ"`, `backend "nftables": options [externalSetMarkChain] are iptables-specific`},
		{`"backend":"nftables","conditionsV4":["-d","192.0.2.1"]`, "[conditionsV4] are iptables-specific"},
		{`"backend":"iptables","conditionsV6":["ip6","saddr","::1"]`, "[conditionsV6] are nftables expressions"},
		{`"conditionsV4":["-d","192.0.2.1"],"conditionsV6":["ip6","saddr","::1"]`, "use one backend's syntax"},
		{`"conditionsV4":["ip","saddr","1.2.3.4","accept"]`, `conditionsV4[3] "accept"`},
		{`"conditionsV4":["ip saddr 1.2.3.4; flush ruleset"]`, "conditionsV4[0]"},
		{`"conditionsV4":["-s","1.2.3.4","-j","ACCEPT"]`, `conditionsV4[2] "-j"`},
		{`"externalSetMarkChain":"A B"`, "externalSetMarkChain"},
	} {
		c2, err := decodeConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"portmap",` + c.conf + `}`))
		if err != nil {
			t.Fatal(err)
		}
		_, err = parseOptions(c2)
		if cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: got %v (code %d), want code 7 containing %q", c.conf, err, cniplugin.Code(err), c.msg)
		}
	}
}

func TestPodIPs(t *testing.T) {
	var res current.Result
	err := json.Unmarshal([]byte(`{"cniVersion":"1.1.0",
		"interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/var/run/netns/p"},{"name":"net1","sandbox":"/var/run/netns/p"}],
		"ips":[{"address":"10.9.0.1/24","interface":0},{"address":"10.1.0.5/24","interface":3},{"address":"10.2.0.5/24","interface":2},
		       {"address":"10.2.0.6/24","interface":2},{"address":"fd00::5/64"}]}`), &res)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := podIPs(&res, "eth0")
	if v4.String() != "10.2.0.5" || v6.String() != "fd00::5" {
		t.Fatalf("podIPs = %s, %s; want 10.2.0.5 and fd00::5", v4, v6)
	}
	v4, _ = podIPs(&res, "net1")
	if v4.String() != "10.1.0.5" {
		t.Fatalf("podIPs(net1) = %s", v4)
	}
	// An index out of range counts as no interface, like the reference.
	res.IPs = []*current.IPConfig{{Address: net.IPNet{IP: net.ParseIP("10.3.0.5"), Mask: net.CIDRMask(24, 32)}, Interface: current.Int(9)}}
	if v4, _ = podIPs(&res, "eth0"); v4.String() != "10.3.0.5" {
		t.Fatalf("podIPs with an out-of-range index = %s", v4)
	}
}

func TestPlanHostPorts(t *testing.T) {
	o := mustOptions(t, `{"cniVersion":"1.1.0","name":"n","type":"portmap","runtimeConfig":{"portMappings":[
		{"hostPort":8080,"containerPort":80,"protocol":"tcp"},
		{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"0.0.0.0"},
		{"hostPort":443,"containerPort":8443,"protocol":"tcp","hostIP":"2001:db8::1"},
		{"hostPort":9,"containerPort":9,"protocol":"sctp","hostIP":"192.0.2.1"}]}}`)
	var got []string
	for _, m := range planHostPorts(o.mappings, netip.MustParseAddr("10.1.0.5"), netip.MustParseAddr("fd00::5")) {
		got = append(got, m.String())
	}
	want := "tcp *:8080 -> 10.1.0.5:80|udp *:53 -> 10.1.0.5:53|sctp 192.0.2.1:9 -> 10.1.0.5:9|tcp *:8080 -> [fd00::5]:80|tcp [2001:db8::1]:443 -> [fd00::5]:8443"
	if strings.Join(got, "|") != want {
		t.Fatalf("plan:\n got %s\nwant %s", strings.Join(got, "|"), want)
	}
	if n := len(planHostPorts(o.mappings, netip.Addr{}, netip.MustParseAddr("fd00::5"))); n != 2 {
		t.Fatalf("IPv6-only pod got %d mappings, want 2", n)
	}
}
