package main

import (
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzParseOptions feeds arbitrary portmap configs (runtimeConfig
// portMappings, conditions, mark options, prevResult) to what ADD parses
// and plans before touching netfilter, and to DEL's key lookup: no panic,
// every rejection a CNI error with a parser code, and every planned host
// port has valid ports, a known protocol, a hostIP of the pod address's
// family, and a pod address from prevResult.
func FuzzParseOptions(f *testing.F) {
	prev := `"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"cni0"},{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.0.5/24","interface":1},{"address":"fd00::5/64","interface":1}]}`
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":53,"containerPort":53,"protocol":"UDP","hostIP":"192.0.2.10"}]},`+prev+`}`), "eth0")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","type":"portmap","backend":"iptables","snat":false,"markMasqBit":14,"conditionsV4":["-s","10.0.0.0/8"],"runtimeConfig":{"portMappings":[{"hostPort":1,"containerPort":65535,"protocol":"sctp","hostIP":"::"}]},`+prev+`}`), "eth0")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"portmap","conditionsV4":["ip","saddr","1.2.3.4",";","drop"],"externalSetMarkChain":"X"}`), "eth0")
	f.Add([]byte(`{"cniVersion":"0.3.1","name":"n","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":0,"containerPort":70000,"protocol":"icmp","hostIP":"fe80::1%eth0"}]},"prevResult":{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.1.0.5/24","interface":-1}]}}`), "eth1")
	f.Fuzz(func(t *testing.T, stdin []byte, ifName string) {
		conf, err := decodeConf(stdin)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		for _, k := range hostPortKeys(conf.RuntimeConfig.PortMaps) {
			if k.HostPort == 0 || (k.Protocol != "tcp" && k.Protocol != "udp" && k.Protocol != "sctp") {
				t.Fatalf("DEL key %+v from an invalid mapping", k)
			}
		}
		opts, err := parseOptions(conf)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		_, res, err := cniplugin.CurrentPrevResult(&conf.PluginConf)
		testutil.RequireRejectionCode(t, err)
		if err != nil || res == nil {
			return
		}
		v4, v6 := podIPs(res, ifName)
		if (v4.IsValid() && !v4.Is4()) || (v6.IsValid() && !v6.Is6()) {
			t.Fatalf("pod addresses %s, %s of the wrong family", v4, v6)
		}
		for _, hp := range planHostPorts(opts.mappings, v4, v6) {
			if hp.HostPort == 0 || hp.PodPort == 0 || (hp.PodIP != v4 && hp.PodIP != v6) {
				t.Fatalf("planned %+v for pod %s/%s", hp, v4, v6)
			}
			if hp.HostIP.IsValid() && hp.HostIP.Is4() != hp.PodIP.Is4() {
				t.Fatalf("planned %+v across families", hp)
			}
		}
	})
}
