package overlay

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzParsePeersFile feeds arbitrary peers files to the parser and every
// accepted list to MergePeers and Validate: no panic, every rejection a
// code 7 error, and every accepted peer a unicast vtepIP with a network
// (not host) subnet.
func FuzzParsePeersFile(f *testing.F) {
	f.Add([]byte(`[{"vtepIP":"192.0.2.10","subnet":"10.244.1.0/24"},{"vtepIP":"192.0.2.11","subnet":"10.244.2.0/24"}]`), "10.244.0.0/16")
	f.Add([]byte(`{"peers":[{"vtepIP":"2001:db8::1","subnet":"fd00:1::/64","_comment":"x"}]}`), "fd00::/16")
	f.Add([]byte(`[{"vtepIP":"::ffff:192.0.2.1","subnet":"10.0.0.1/24"}]`), "10.0.0.0/8")
	f.Add([]byte(`[{"vtepIP":"192.0.2.1","subnet":"10.1.0.0/16"},{"vtepIP":"192.0.2.2","subnet":"10.1.2.0/24"}]`), "10.0.0.0/8")
	f.Add([]byte(`{"peers":null}`), "bogus")
	f.Fuzz(func(t *testing.T, data []byte, network string) {
		peers, err := ParsePeersFile("/etc/podnet/peers.json", data)
		testutil.RequireRejectionCode(t, err, cniplugin.ErrInvalidNetworkConfig)
		if err != nil {
			return
		}
		for _, p := range peers {
			if !p.VTEPIP.IsGlobalUnicast() || p.VTEPIP.Is4In6() || p.Subnet != p.Subnet.Masked() {
				t.Fatalf("accepted peer %s", p)
			}
		}
		nw, err := ParseSubnet("network", network)
		if err != nil {
			return
		}
		cfg := &Config{Name: "n", Network: nw, Peers: MergePeers(peers, peers)}
		if len(cfg.Peers) > len(peers) {
			t.Fatalf("MergePeers of a list with itself grew it: %d > %d", len(cfg.Peers), len(peers))
		}
		if len(peers) > 0 {
			cfg.Subnet, cfg.VTEPIP = peers[0].Subnet, peers[0].VTEPIP
		}
		testutil.RequireRejectionCode(t, cfg.Validate(), cniplugin.ErrInvalidNetworkConfig)
	})
}

// FuzzParseSubnet: an accepted subnet is a valid masked prefix, never an
// IPv4-mapped one.
func FuzzParseSubnet(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "::ffff:10.0.0.0/104", "fd00::/8", "", "1.2.3.4/33", "10.0.0.0/8%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseSubnet("subnet", s)
		testutil.RequireRejectionCode(t, err, cniplugin.ErrInvalidNetworkConfig)
		if err == nil && (!p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "") {
			t.Fatalf("accepted subnet %q as %s", s, p)
		}
		if err != nil && !strings.Contains(err.Error(), "subnet") {
			t.Fatalf("error does not name the key: %v", err)
		}
	})
}

// TestReadPeersFileRefusesNonRegular: a FIFO (which would block the plugin
// forever), a device and an oversized file are code 7 errors naming the
// path, read without hanging.
func TestReadPeersFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, MaxPeersFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{fifo: "not a regular file", "/dev/zero": "not a regular file", big: "larger than", dir: "not a regular file"} {
		_, err := ReadPeersFile(path)
		if cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadPeersFile(%s) = %v, want code 7 naming the path and %q", path, err, want)
		}
	}
	ok := filepath.Join(dir, "ok.json")
	if err := os.WriteFile(ok, []byte(`[{"vtepIP":"192.0.2.1","subnet":"10.1.0.0/24"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	peers, err := ReadPeersFile(ok)
	if err != nil || len(peers) != 1 || peers[0].Subnet != netip.MustParsePrefix("10.1.0.0/24") {
		t.Fatalf("ReadPeersFile(ok) = %v, %v", peers, err)
	}
}
