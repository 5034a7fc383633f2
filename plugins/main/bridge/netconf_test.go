package main

import (
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func TestParseConfDefaults(t *testing.T) {
	c, err := parseConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.BrName != "cni0" || c.l3() || c.mac != nil || c.backend != "" {
		t.Fatalf("defaults = bridge %q l3 %v mac %v backend %q", c.BrName, c.l3(), c.mac, c.backend)
	}
	c, err = parseConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge","isDefaultGateway":true,
		"vlanTrunk":[{"minID":5,"maxID":7},{"id":6},{"id":100}],"ipMasqBackend":"iptables"}`), "")
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsGW {
		t.Fatal("isDefaultGateway must imply isGateway")
	}
	if got := c.trunkVIDs; len(got) != 4 || got[0] != 5 || got[3] != 100 {
		t.Fatalf("trunk VIDs = %v, want [5 6 7 100]", got)
	}
	if c.backend != "iptables" {
		t.Fatalf("backend = %q", c.backend)
	}
}

func TestParseConfMACPrecedence(t *testing.T) {
	conf := `{"cniVersion":"1.1.0","name":"n","type":"bridge"%s}`
	for _, tc := range []struct{ extra, env, want string }{
		{`,"runtimeConfig":{"mac":"0a:00:00:00:00:01"},"args":{"cni":{"mac":"0a:00:00:00:00:02"}}`, "MAC=0a:00:00:00:00:03", "0a:00:00:00:00:01"},
		{`,"args":{"cni":{"mac":"0a:00:00:00:00:02"}}`, "IgnoreUnknown=1;MAC=0a:00:00:00:00:03", "0a:00:00:00:00:02"},
		{``, "K8S_POD_NAME=x;MAC=0a:00:00:00:00:03", "0a:00:00:00:00:03"},
		{``, "K8S_POD_NAME=x", ""},
	} {
		c, err := parseConf([]byte(strings.Replace(conf, "%s", tc.extra, 1)), tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.mac.String(); got != tc.want {
			t.Errorf("%s / %s: mac %q, want %q", tc.extra, tc.env, got, tc.want)
		}
	}
}

func TestParseConfErrors(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{`"vlan":-1`, "vlan -1"},
		{`"vlan":4095`, "vlan 4095"},
		{`"vlanTrunk":[{"maxID":3}]`, "minID and maxID"},
		{`"vlanTrunk":[{"minID":9,"maxID":3}]`, "range 9-3"},
		{`"vlanTrunk":[{"id":0}]`, "id 0"},
		{`"hairpinMode":true,"promiscMode":true`, "hairpinMode and promiscMode"},
		{`"disableContainerInterface":true,"ipam":{"type":"host-local"}`, "disableContainerInterface"},
		{`"ipMasqBackend":"ebtables"`, "ipMasqBackend"},
		{`"bridge":"this-name-is-too-long"`, "not a valid interface name"},
		{`"bridge":"a/b"`, "not a valid interface name"},
		{`"mtu":20`, "mtu 20"},
		{`"runtimeConfig":{"mac":"01:00:5e:00:00:01"}`, "multicast"},
		{`"args":{"cni":{"mac":"nope"}}`, "args.cni.mac"},
	} {
		_, err := parseConf([]byte(`{"cniVersion":"1.1.0","name":"n","type":"bridge",`+tc.conf+`}`), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) || cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig {
			t.Errorf("%s: err %v (code %d), want code 7 mentioning %q", tc.conf, err, cniplugin.Code(err), tc.want)
		}
	}
	if _, err := parseConf([]byte(`{"cniVersion":`), ""); cniplugin.Code(err) != cniplugin.ErrDecodingFailure {
		t.Errorf("malformed JSON: code %d, want 6", cniplugin.Code(err))
	}
}
