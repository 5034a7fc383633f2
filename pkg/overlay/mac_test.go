package overlay

import (
	"net/netip"
	"testing"
)

func TestVTEPMAC(t *testing.T) {
	if got := VTEPMAC(netip.MustParseAddr("192.0.2.10")).String(); got != "0e:2a:c0:00:02:0a" {
		t.Fatalf("VTEPMAC(192.0.2.10) = %s", got)
	}
	if got := VTEPMAC(netip.MustParseAddr("::ffff:192.0.2.10")).String(); got != "0e:2a:c0:00:02:0a" {
		t.Fatalf("VTEPMAC of a v4-mapped address = %s, want the IPv4 one", got)
	}
	seen := map[string]bool{}
	for i := range 1000 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)})
		mac := VTEPMAC(a)
		if mac[0]&0x01 != 0 || mac[0]&0x02 == 0 {
			t.Fatalf("VTEPMAC(%s) = %s: not locally administered unicast", a, mac)
		}
		if seen[mac.String()] {
			t.Fatalf("VTEPMAC collision at %s", a)
		}
		seen[mac.String()] = true
		if VTEPMAC(a).String() != mac.String() {
			t.Fatal("VTEPMAC is not deterministic")
		}
	}
}
