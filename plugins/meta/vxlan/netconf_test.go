package main

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// confJSON renders a vxlan config: base keys plus extra (a JSON object
// body without braces, or "").
func confJSON(extra string) []byte {
	s := `{"cniVersion":"1.1.0","name":"ovl","type":"vxlan","network":"10.244.0.0/16","subnet":"10.244.0.0/24",
		"peers":[{"vtepIP":"192.0.2.10","subnet":"10.244.0.0/24"},{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"}]`
	if extra != "" {
		s += "," + extra
	}
	return []byte(s + "}")
}

func TestOverlayConfigDefaults(t *testing.T) {
	conf, err := parseConf(confJSON(""))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.overlayConfig(netip.Prefix{}, withPeers)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.VNI != 1 || cfg.Port != 4789 || cfg.Device != "podnet.1" || cfg.DataDir != "/var/lib/cni/podnet/vxlan" ||
		cfg.MTU != 0 || cfg.IPMasq || cfg.TxChecksumOffload || cfg.DirectRouting || cfg.VTEPIP.IsValid() || cfg.MasqOwner() != "vxlan:ovl" {
		t.Fatalf("defaults: %+v", cfg)
	}
	conf, _ = parseConf(confJSON(`"vni":4096,"port":8472,"mtu":1400,"vtepIP":"192.0.2.10","ipMasq":true,"ipMasqBackend":"iptables","dataDir":"/run/x/"`))
	if cfg, err = conf.overlayConfig(netip.Prefix{}, withPeers); err != nil {
		t.Fatal(err)
	}
	if cfg.VNI != 4096 || cfg.Port != 8472 || cfg.Device != "podnet.4096" || cfg.MTU != 1400 || cfg.VTEPIP.String() != "192.0.2.10" ||
		!cfg.IPMasq || cfg.MasqBackend != "iptables" || cfg.DataDir != "/run/x" || cfg.LockPath() != "/run/x/podnet.4096.lock" {
		t.Fatalf("explicit keys: %+v", cfg)
	}
}

func TestOverlayConfigErrors(t *testing.T) {
	dir := t.TempDir()
	malformed := filepath.Join(dir, "malformed.json")
	if err := os.WriteFile(malformed, []byte(`[{"vtepIP":`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, conf, want string
	}{
		{"missing network", `{"cniVersion":"1.1.0","name":"ovl","type":"vxlan"}`, "network is required"},
		{"bad network", string(confJSON(`"network":"10.244.0.0/33"`)), `network "10.244.0.0/33": not a CIDR`},
		{"subnet outside network", string(confJSON(`"subnet":"10.9.0.0/24","peers":[]`)), `subnet "10.9.0.0/24": outside network 10.244.0.0/16`},
		{"overlapping peers", string(confJSON(`"peers":[{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"},{"vtepIP":"192.0.2.12","subnet":"10.244.1.128/25"}]`)),
			"peers: subnet 10.244.1.128/25 of vtepIP 192.0.2.12 overlaps subnet 10.244.1.0/24 of vtepIP 192.0.2.11"},
		{"peer holds our subnet", string(confJSON(`"vtepIP":"192.0.2.10","peers":[{"vtepIP":"192.0.2.11","subnet":"10.244.0.0/23"}]`)),
			"peers: subnet 10.244.0.0/23 of vtepIP 192.0.2.11 overlaps this node's subnet 10.244.0.0/24 (vtepIP 192.0.2.10)"},
		{"bad vtepIP", string(confJSON(`"vtepIP":"192.0.2"`)), `vtepIP "192.0.2": not a unicast IP address`},
		{"bad peer vtepIP", string(confJSON(`"peers":[{"vtepIP":"node1","subnet":"10.244.1.0/24"}]`)), `peers[0].vtepIP "node1": not an IP address`},
		{"bad peer subnet", string(confJSON(`"peers":[{"vtepIP":"192.0.2.11","subnet":"10.244.1.1/24"}]`)), `peers[0].subnet "10.244.1.1/24": host bits set`},
		{"vni 0", string(confJSON(`"vni":0`)), "vni 0: want 1-16777215"},
		{"vni too big", string(confJSON(`"vni":16777216`)), "vni 16777216: want 1-16777215"},
		{"port", string(confJSON(`"port":70000`)), "port 70000: want 1-65535"},
		{"device too long", string(confJSON(`"device":"podnet-overlay.1"`)), `device "podnet-overlay.1": longer than 15 characters`},
		{"device bad name", string(confJSON(`"device":"a/b"`)), `device "a/b": not a valid interface name`},
		{"mtu", string(confJSON(`"mtu":60`)), "mtu 60: want 68-65535"},
		{"dataDir", string(confJSON(`"dataDir":"relative/dir"`)), `dataDir "relative/dir": not an absolute path`},
		{"backend", string(confJSON(`"ipMasqBackend":"ebtables"`)), `ipMasqBackend "ebtables"`},
		{"unreadable peers file", string(confJSON(`"peersFile":"` + filepath.Join(dir, "missing.json") + `"`)),
			`peersFile "` + filepath.Join(dir, "missing.json") + `": open`},
		{"malformed peers file", string(confJSON(`"peersFile":"` + malformed + `"`)), `peersFile "` + malformed + `": decode: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf, err := parseConf([]byte(tt.conf))
			if err != nil {
				t.Fatal(err)
			}
			_, err = conf.overlayConfig(netip.Prefix{}, withPeers)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
			if code := cniplugin.Code(err); code != cniplugin.ErrInvalidNetworkConfig {
				t.Fatalf("code %d, want 7 (%v)", code, err)
			}
		})
	}
	if _, err := parseConf([]byte(`{"cniVersion":`)); cniplugin.Code(err) != cniplugin.ErrDecodingFailure {
		t.Fatalf("malformed JSON: %v, want code 6", err)
	}
}

func TestSubnetFromResult(t *testing.T) {
	ipc := func(cidr string) *current.IPConfig {
		ip, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return &current.IPConfig{Address: *n}
	}
	res := &current.Result{IPs: []*current.IPConfig{ipc("fd00::5/64"), ipc("10.244.1.5/24")}}
	got, err := subnetFromResult(res, "10.244.0.0/16")
	if err != nil || got.String() != "10.244.1.0/24" {
		t.Fatalf("subnetFromResult = %v, %v; want 10.244.1.0/24", got, err)
	}
	_, err = subnetFromResult(res, "10.9.0.0/16")
	if err == nil || cniplugin.Code(err) != 7 || !strings.Contains(err.Error(), "no pod address inside network 10.9.0.0/16 (addresses: fd00::5/64, 10.244.1.5/24)") {
		t.Fatalf("no address in network: %v", err)
	}
	conf, _ := parseConf(confJSON(`"subnet":"10.244.2.0/24"`))
	if _, err := conf.overlayConfig(got, withoutPeers); err == nil || !strings.Contains(err.Error(), `subnet "10.244.2.0/24": the pod's address is in 10.244.1.0/24`) {
		t.Fatalf("subnet key disagreeing with prevResult: %v", err)
	}
}

func TestChainedConfigNeedsPrevResult(t *testing.T) {
	_, _, _, err := chainedConfig(confJSON(""))
	if cniplugin.Code(err) != 7 || !strings.Contains(err.Error(), "prevResult is missing") {
		t.Fatalf("ADD without prevResult: %v", err)
	}
	prev := `"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/var/run/netns/p"}],
		"ips":[{"address":"10.244.0.7/24","interface":0}]}`
	conf, res, cfg, err := chainedConfig(confJSON(prev))
	if err != nil {
		t.Fatal(err)
	}
	if conf.Name != "ovl" || len(res.IPs) != 1 || cfg.Subnet.String() != "10.244.0.0/24" || len(cfg.Peers) != 2 {
		t.Fatalf("chained config: %+v / %+v", cfg, res)
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"address":"10.244.0.7/24"`) {
		t.Fatalf("result lost the address: %s", b)
	}
}
