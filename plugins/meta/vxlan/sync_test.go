package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func writeConf(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "10-overlay.conflist")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSyncConfig(t *testing.T) {
	peers := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(peers, []byte(`{"peers":[{"vtepIP":"192.0.2.11","subnet":"10.244.1.0/24"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConf(t, `{"cniVersion":"1.0.0","name":"ovl","plugins":[
		{"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","ranges":[[{"subnet":"fd00::/64"}],[{"subnet":"10.244.0.0/24"}]]}},
		{"type":"vxlan","network":"10.244.0.0/16","vni":3,"peersFile":"`+peers+`","peers":[{"vtepIP":"192.0.2.10","subnet":"10.244.0.0/24"}]},
		{"type":"portmap","capabilities":{"portMappings":true}}]}`)
	conf, cfg, err := loadSyncConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if conf.Name != "ovl" || conf.CNIVersion != "1.0.0" || cfg.Name != "ovl" || cfg.Subnet.String() != "10.244.0.0/24" ||
		cfg.Device != "podnet.3" || len(cfg.Peers) != 2 {
		t.Fatalf("sync config: %+v", cfg)
	}
}

func TestLoadSyncConfigErrors(t *testing.T) {
	tests := []struct{ conf, want string }{
		{`{"name":"x","plugins":[{"type":"bridge"}]}`, `no plugin of type "vxlan" in plugins`},
		{`{"name":"x","plugins":[{"type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}},{"type":"vxlan","network":"10.244.0.0/16"}]}`,
			"subnet: not set in the vxlan entry, and no host-local range of the conflist lies inside network 10.244.0.0/16 (ranges: [10.9.0.0/24])"},
		{`{"name":"x","plugins":[{"type":"vxlan","network":"10.244.0.0/16","subnet":"10.244.0.0/24","vni":-1}]}`, "vni -1: want 1-16777215"},
		{`{"name":"x","plugins":[`, "decode: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		path := writeConf(t, tt.conf)
		_, _, err := loadSyncConfig(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) || cniplugin.Code(err) != 7 {
			t.Errorf("loadSyncConfig(%s) = %v (code %d), want %q naming the file", tt.conf, err, cniplugin.Code(err), tt.want)
		}
	}
}

func TestRunSyncUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--watch"}, {"--conf"}, {"--conf", "x", "extra"}, {"--bogus"}, {"--conf", "x", "--interval", "0s"}} {
		var stderr bytes.Buffer
		if code := runSync(args, &stderr); code != 2 || !strings.Contains(stderr.String(), syncUsage) {
			t.Errorf("runSync(%q) = %d, stderr %q; want 2 and the usage line", args, code, stderr.String())
		}
	}
	var stderr bytes.Buffer
	if code := runSync([]string{"--conf", filepath.Join(t.TempDir(), "none.conflist")}, &stderr); code != 1 || !strings.Contains(stderr.String(), "no such file") {
		t.Errorf("missing conf: exit %d, stderr %q; want 1 naming the file", code, stderr.String())
	}
}
