package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzChainedConfig feeds arbitrary chained configs (with prevResult) and
// peers files to what ADD and CHECK parse before touching the kernel: no
// panic, every rejection a CNI error with a parser code, and an accepted
// config has a subnet inside its network.
func FuzzChainedConfig(f *testing.F) {
	prev := `"prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.244.1.5/24","interface":0}]}`
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"ov","type":"vxlan","network":"10.244.0.0/16","peersFile":"x",`+prev+`}`),
		[]byte(`[{"vtepIP":"192.0.2.11","subnet":"10.244.2.0/24"}]`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"ov","type":"vxlan","vni":16777215,"port":8472,"device":"flannel.1","vtepIP":"192.0.2.10","network":"10.244.0.0/16","subnet":"10.244.1.0/24","mtu":1400,"ipMasq":true,"ipMasqBackend":"iptables","dataDir":"/run/x","peers":[{"vtepIP":"192.0.2.10","subnet":"10.244.1.0/24"}],`+prev+`}`),
		[]byte(`{"peers":[]}`))
	f.Add([]byte(`{"cniVersion":"0.3.1","name":"ov","type":"vxlan","network":"fd00::/48","prevResult":{"cniVersion":"0.3.1","ips":[{"version":"6","address":"fd00:0:0:1::5/64"}]}}`), []byte(``))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"ov","type":"vxlan","vni":0,"device":"a/b","network":"10.0.0.1/8","dataDir":"rel"}`), []byte(`[`))
	f.Fuzz(func(t *testing.T, stdin, peersFile []byte) {
		conf, err := parseConf(stdin)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		if conf.PeersFile != "" {
			conf.PeersFile = filepath.Join(t.TempDir(), "peers.json")
			if err := os.WriteFile(conf.PeersFile, peersFile, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, res, err := cniplugin.CurrentPrevResult(&conf.PluginConf)
		testutil.RequireRejectionCode(t, err)
		if err != nil || res == nil {
			return
		}
		subnet, err := subnetFromResult(res, conf.Network)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		cfg, err := conf.overlayConfig(subnet, withPeers)
		testutil.RequireRejectionCode(t, err)
		if err == nil && cfg.Subnet.IsValid() && !cfg.Network.Contains(cfg.Subnet.Addr()) {
			t.Fatalf("accepted subnet %s outside network %s", cfg.Subnet, cfg.Network)
		}
	})
}

// FuzzSyncConfig feeds arbitrary conflists to `vxlan sync`'s loader. The
// string @PEERS@ in the conflist stands for a peers file holding the second
// input. Inputs naming /proc, /sys or /dev are skipped: the loader reads
// whatever peersFile names, and the fuzzer must not read the machine's.
func FuzzSyncConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"ov","plugins":[{"type":"bridge","ipam":{"type":"host-local","ranges":[[{"subnet":"10.244.1.0/24"}]]}},{"type":"vxlan","network":"10.244.0.0/16","peersFile":"@PEERS@"}]}`),
		[]byte(`[{"vtepIP":"192.0.2.11","subnet":"10.244.2.0/24"}]`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"ov","plugins":[{"type":"vxlan","network":"10.244.0.0/16","subnet":"10.244.9.0/24"}]}`), []byte(nil))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"ov","plugins":[{"type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}},{"type":"vxlan","network":"10.244.0.0/16"}]}`), []byte(nil))
	f.Add([]byte(`{"plugins":[1]}`), []byte(nil))
	f.Fuzz(func(t *testing.T, conflist, peers []byte) {
		for _, p := range []string{"/proc", "/sys", "/dev"} {
			if bytes.Contains(conflist, []byte(p)) {
				t.Skip("names a system path")
			}
		}
		dir := t.TempDir()
		peersPath := filepath.Join(dir, "peers.json")
		if err := os.WriteFile(peersPath, peers, 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "net.conflist")
		if err := os.WriteFile(path, bytes.ReplaceAll(conflist, []byte("@PEERS@"), []byte(peersPath)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, cfg, err := loadSyncConfig(path)
		testutil.RequireRejectionCode(t, err)
		if err == nil && !cfg.Network.Contains(cfg.Subnet.Addr()) {
			t.Fatalf("accepted subnet %s outside network %s", cfg.Subnet, cfg.Network)
		}
	})
}

// TestSyncFingerprintFIFOPeersFile: a peers file that is a FIFO does not
// block `vxlan sync --watch` (fingerprint returns; loading refuses it).
func TestSyncFingerprintFIFOPeersFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "peers.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "net.conflist")
	list := `{"cniVersion":"1.1.0","name":"ov","plugins":[{"type":"vxlan","network":"10.244.0.0/16","subnet":"10.244.1.0/24","peersFile":"` + fifo + `"}]}`
	if err := os.WriteFile(conf, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		(&syncer{path: conf}).fingerprint()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("fingerprint blocked on a FIFO peers file")
	}
	if _, _, err := loadSyncConfig(conf); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("loadSyncConfig with a FIFO peers file: %v", err)
	}
}
