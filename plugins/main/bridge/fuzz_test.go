package main

import (
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzParseConf feeds arbitrary bridge configs and CNI_ARGS (the MAC= key)
// to the parser every verb runs first, then to the prevResult decoding of
// CHECK and the GC list: no panic, every rejection a CNI error with a
// parser code, and what is accepted is usable (a valid bridge name, a
// unicast MAC, VLAN ids in range).
func FuzzParseConf(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"cni0","isDefaultGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}`), "")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","type":"bridge","vlan":100,"vlanTrunk":[{"minID":1,"maxID":4094},{"id":7},null],"mtu":9000,"runtimeConfig":{"mac":"02:00:00:00:00:01"}}`), "IgnoreUnknown=1;MAC=02:00:00:00:00:02")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge","args":{"cni":{"mac":"01:00:5e:00:00:01"}},"ipMasqBackend":"nftables","macspoofchk":true}`), "MAC=zz")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"a/b","hairpinMode":true,"promiscMode":true,"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"cni0"}],"ips":[{"address":"10.1.0.2/24","interface":9}]},"cni.dev/valid-attachments":[{"containerID":"c","ifname":"eth0"}]}`), "MAC")
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs string) {
		conf, err := parseConf(stdin, cniArgs)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		if err := validateIfName("bridge", conf.BrName); err != nil || conf.BrName == "" {
			t.Fatalf("accepted bridge name %q", conf.BrName)
		}
		if conf.mac != nil && (len(conf.mac) != 6 || conf.mac[0]&1 == 1) {
			t.Fatalf("accepted MAC %s", conf.mac)
		}
		for _, id := range conf.trunkVIDs {
			if id < 1 || id > 4094 {
				t.Fatalf("accepted trunk VLAN %d", id)
			}
		}
		_, err = cniplugin.ParsePrevResult(&conf.PluginConf)
		testutil.RequireRejectionCode(t, err)
		_, err = validAttachments(stdin)
		testutil.RequireRejectionCode(t, err)
	})
}
