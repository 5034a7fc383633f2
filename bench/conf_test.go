package bench

import (
	"encoding/json"
	"testing"
)

func TestBridgeNetConfList(t *testing.T) {
	b := BridgeNet{Name: "pnb-seq", Bridge: "pnbr0", Subnet: "10.88.0.0/16", DataDir: "/d", Backend: "nftables", PortMap: true}
	got, err := b.ConfList()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.1.0","name":"pnb-seq","plugins":[` +
		`{"bridge":"pnbr0","ipMasq":true,"ipMasqBackend":"nftables","ipam":{"dataDir":"/d","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"type":"host-local"},"isGateway":true,"type":"bridge"},` +
		`{"backend":"nftables","capabilities":{"portMappings":true},"type":"portmap"}]}`
	if string(got) != want {
		t.Fatalf("conflist:\n%s\nwant\n%s", got, want)
	}
	if _, err := parseList(got, nil); err != nil {
		t.Fatal(err)
	}
	b.Backend, b.PortMap = "", false
	got, _ = b.ConfList()
	want = `{"cniVersion":"1.1.0","name":"pnb-seq","plugins":[` +
		`{"bridge":"pnbr0","ipam":{"dataDir":"/d","ranges":[[{"subnet":"10.88.0.0/16"}]],"routes":[{"dst":"0.0.0.0/0"}],"type":"host-local"},"isGateway":true,"type":"bridge"}]}`
	if string(got) != want {
		t.Fatalf("bridge-only conflist:\n%s\nwant\n%s", got, want)
	}
}

func TestHostLocalConfList(t *testing.T) {
	got, err := HostLocalConfList("pnb-ipam", "10.90.0.0/16", "/d")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.1.0","name":"pnb-ipam","plugins":[{"ipam":{"dataDir":"/d","ranges":[[{"subnet":"10.90.0.0/16"}]],"type":"host-local"},"type":"host-local"}]}`
	if string(got) != want {
		t.Fatalf("conflist:\n%s\nwant\n%s", got, want)
	}
}

func TestOverlayPeers(t *testing.T) {
	peers := overlayPeers(100)
	if n := len(peers[manyPeers]); n != 101 {
		t.Fatalf("manyPeers lists %d entries, want 100 peers + itself", n)
	}
	seen := map[string]bool{}
	for _, p := range peers[manyPeers] {
		if seen[p.VTEPIP] || seen[p.Subnet] {
			t.Fatalf("duplicate peer %+v", p)
		}
		seen[p.VTEPIP], seen[p.Subnet] = true, true
	}
	if got := peers[onePeer]; len(got) != 2 || got[1].VTEPIP != underlayAddr(farEnd) {
		t.Fatalf("onePeer peers = %+v, want itself and the far end", got)
	}
	b, err := overlayConfList(manyPeers, &Node{DataDir: "/d"}, peers[manyPeers][:1], false)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Plugins []map[string]any `json:"plugins"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Plugins) != 2 || doc.Plugins[1]["type"] != "vxlan" || doc.Plugins[1]["vtepIP"] != "192.0.2.10" {
		t.Fatalf("overlay conflist %s (%v)", b, err)
	}
}
