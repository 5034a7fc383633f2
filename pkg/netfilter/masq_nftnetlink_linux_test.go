package netfilter

import (
	"net/netip"
	"testing"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/expr"
)

func TestIntervalElements(t *testing.T) {
	a := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	jump := &expr.Verdict{Kind: expr.VerdictJump, Chain: "masq-x"}
	// As the kernel dumps an interval map: ends flagged, unsorted.
	els := []gnft.SetElement{
		{Key: a("10.23.0.0"), IntervalEnd: true},
		{Key: a("10.22.0.0"), VerdictData: jump},
		{Key: a("10.30.1.1"), IntervalEnd: true},
		{Key: a("10.30.1.0"), VerdictData: jump},
		{Key: a("128.0.0.0"), VerdictData: jump}, // runs to the end of the space
	}
	got, err := intervalElements("map", "src-v4", els)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.22.0.0/16 jump masq-x", "10.30.1.0/32 jump masq-x", "128.0.0.0/1 jump masq-x"}
	if len(got) != len(want) {
		t.Fatalf("got %d elements, want %d", len(got), len(want))
	}
	for i, e := range got {
		if s := e.Key[0] + " " + e.Value[0]; s != want[i] {
			t.Errorf("element %d = %q, want %q", i, s, want[i])
		}
	}
	if _, err := intervalElements("set", "s", []gnft.SetElement{{Key: a("10.0.0.1")}, {Key: a("10.0.0.4"), IntervalEnd: true}}); err == nil {
		t.Fatal("a range that is not a prefix was accepted")
	}
	v6, err := intervalElements("set", "s", []gnft.SetElement{{Key: a("fd00:22::")}, {Key: a("fd00:22:0:1::"), IntervalEnd: true}})
	if err != nil || len(v6) != 1 || v6[0].Key[0] != "fd00:22::/64" {
		t.Fatalf("IPv6 interval = %v, %v", v6, err)
	}
}
