package overlay

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"ok", func(c *Config) {}, ""},
		{"no network", func(c *Config) { c.Network = netip.Prefix{} }, "network is required"},
		{"subnet outside network", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.245.0.0/24") },
			`subnet "10.245.0.0/24": outside network 10.244.0.0/16`},
		{"subnet larger than network", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.0.0.0/8") },
			`subnet "10.0.0.0/8": outside network 10.244.0.0/16`},
		{"subnet other family", func(c *Config) { c.Subnet = netip.MustParsePrefix("fd00::/64") },
			`subnet "fd00::/64": not the family of network 10.244.0.0/16`},
		{"mtu", func(c *Config) { c.MTU = 40 }, "mtu 40: want 68-65535 for network 10.244.0.0/16"},
		{"peer outside network", func(c *Config) { c.Peers = append(c.Peers, peer("192.0.2.20", "10.9.0.0/24")) },
			`peer 192.0.2.20: peers[3].subnet "10.9.0.0/24": outside network 10.244.0.0/16`},
		{"overlapping peers", func(c *Config) { c.Peers = MergePeers(c.Peers, []Peer{peer("192.0.2.20", "10.244.2.128/25")}) },
			"peers: subnet 10.244.2.128/25 of vtepIP 192.0.2.20 overlaps subnet 10.244.2.0/24 of vtepIP 192.0.2.12"},
		{"peer containing others", func(c *Config) { c.Peers = MergePeers(c.Peers, []Peer{peer("192.0.2.20", "10.244.0.0/22")}) },
			"overlaps subnet 10.244.0.0/22 of vtepIP 192.0.2.20"},
		{"vtepIP twice", func(c *Config) { c.Peers = MergePeers(c.Peers, []Peer{peer("192.0.2.11", "10.244.8.0/24")}) },
			"peers: vtepIP 192.0.2.11 listed with two subnets"},
		{"peer holding our subnet", func(c *Config) {
			c.VTEPIP = netip.MustParseAddr("192.0.2.10")
			c.Peers = []Peer{peer("192.0.2.11", "10.244.0.0/23")}
		}, "peers: subnet 10.244.0.0/23 of vtepIP 192.0.2.11 overlaps this node's subnet 10.244.0.0/24 (vtepIP 192.0.2.10)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.change(cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig {
				t.Fatalf("code %d, want 7", cniplugin.Code(err))
			}
		})
	}
}

func TestParsePeers(t *testing.T) {
	tests := []struct {
		raw  RawPeer
		want string
	}{
		{RawPeer{"192.0.2.11", "10.244.1.0/24"}, ""},
		{RawPeer{"2001:db8::1", "fd00::/64"}, ""},
		{RawPeer{"192.0.2.300", "10.244.1.0/24"}, `peers[0].vtepIP "192.0.2.300": not an IP address`},
		{RawPeer{"", "10.244.1.0/24"}, `peers[0].vtepIP "": not an IP address`},
		{RawPeer{"224.0.0.1", "10.244.1.0/24"}, `peers[0].vtepIP "224.0.0.1": not a unicast address`},
		{RawPeer{"127.0.0.1", "10.244.1.0/24"}, `peers[0].vtepIP "127.0.0.1": not a unicast address`},
		{RawPeer{"192.0.2.11", "10.244.1.0"}, `peers[0].subnet "10.244.1.0": not a CIDR`},
		{RawPeer{"192.0.2.11", "10.244.1.5/24"}, `peers[0].subnet "10.244.1.5/24": host bits set; did you mean 10.244.1.0/24`},
	}
	for _, tt := range tests {
		_, err := ParsePeers("peers", []RawPeer{tt.raw})
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
			t.Errorf("ParsePeers(%+v) = %v, want %q", tt.raw, err, tt.want)
		}
		if err != nil && cniplugin.Code(err) != 7 {
			t.Errorf("ParsePeers(%+v): code %d, want 7", tt.raw, cniplugin.Code(err))
		}
	}
}

func TestReadPeersFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	list := write("list.json", `[{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"}]`)
	obj := write("obj.json", `{"_comment":"three nodes","peers":[{"_comment":"node0","vtepIP":"192.0.2.10","subnet":"10.244.0.0/24"},
		{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"}]}`)
	a, err := ReadPeersFile(list)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ReadPeersFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	merged := MergePeers(b, a)
	if len(merged) != 2 || merged[0].String() != "192.0.2.10 10.244.0.0/24" || merged[1].String() != "192.0.2.11 10.244.1.0/24" {
		t.Fatalf("merged peers = %v", merged)
	}
	bad := write("bad.json", `[{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"}`)
	wantErrs := map[string]string{
		bad:                             `peersFile "` + bad + `": decode: unexpected end of JSON input`,
		filepath.Join(dir, "none.json"): `peersFile "` + filepath.Join(dir, "none.json") + `": open ` + filepath.Join(dir, "none.json") + `: no such file or directory`,
		write("badpeer.json", `[{"vtepIP":"x","subnet":"10.244.1.0/24"}]`): `peersFile "` + filepath.Join(dir, "badpeer.json") + `": peers[0].vtepIP "x": not an IP address`,
	}
	for path, want := range wantErrs {
		_, err := ReadPeersFile(path)
		if err == nil || err.Error() != want || cniplugin.Code(err) != 7 {
			t.Errorf("ReadPeersFile(%s) = %v (code %d), want %q (code 7)", path, err, cniplugin.Code(err), want)
		}
	}
}
