package netfilter

import (
	"context"
	"net"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

const spoofOne = `add table bridge podnet-spoofcheck { comment "podnet: drop frames whose source MAC is not the port's pod's" ; }
add chain bridge podnet-spoofcheck prerouting { type filter hook prerouting priority -300 ; }
add set bridge podnet-spoofcheck allowed { type ifname . ether_addr ; }
add set bridge podnet-spoofcheck ports { type ifname ; }
add rule bridge podnet-spoofcheck prerouting iifname @ports iifname . ether saddr != @allowed drop comment "podnet: drop frames whose source MAC is not the port's pod's"
add element bridge podnet-spoofcheck allowed { "veth1" . 0a:58:00:00:00:01 comment "net/c1/eth0" }
add element bridge podnet-spoofcheck ports { "veth1" comment "net/c1/eth0" }
`

func TestSpoofCheck(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.BridgeFamily, spoofTable)
	s := newSpoofCheckerWith(fake)
	mac1, _ := net.ParseMAC("0a:58:00:00:00:01")
	mac2, _ := net.ParseMAC("0a:58:00:00:00:02")
	k1, k2 := SpoofKey("net", "c1", "eth0"), SpoofKey("net", "c2", "eth0")
	if err := s.EnsureSpoofCheck(ctx, k1, "veth1", mac1); err != nil {
		t.Fatal(err)
	}
	if got := fake.Dump(); got != spoofOne {
		t.Fatalf("after Ensure:\n%s\nwant:\n%s", got, spoofOne)
	}
	if err := s.EnsureSpoofCheck(ctx, k2, "veth2", mac2); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fake.LastTransaction.String(), "veth2") || strings.Contains(fake.LastTransaction.String(), "add rule") {
		t.Fatalf("second Ensure should only add elements:\n%s", fake.LastTransaction)
	}
	if err := s.CheckSpoofCheck(ctx, k1, "veth1", mac1); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSpoofCheck(ctx, k1, "veth1", mac2); err == nil {
		t.Fatal("Check with the wrong MAC succeeded")
	}
	if err := s.DeleteSpoofCheck(ctx, k1); err != nil {
		t.Fatal(err)
	}
	if got := fake.Dump(); strings.Contains(got, "veth1") || !strings.Contains(got, "veth2") {
		t.Fatalf("after Delete of c1:\n%s", got)
	}
	if err := s.DeleteSpoofCheck(ctx, k1); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if err := s.GCSpoofCheck(ctx, "other", nil); err != nil || !strings.Contains(fake.Dump(), "veth2") {
		t.Fatalf("GC of another network touched ours: %v\n%s", err, fake.Dump())
	}
	if err := s.GCSpoofCheck(ctx, "net", map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Dump(); got != "" {
		t.Fatalf("after GC with nothing valid the table should be gone:\n%s", got)
	}
}
