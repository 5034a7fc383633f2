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

// TestIntervalElementsAdjacent covers two owners with adjacent prefixes
// (10.244.0.0/16 and 10.245.0.0/16): the end of the first and the start of
// the second share a key, in either dump order.
func TestIntervalElementsAdjacent(t *testing.T) {
	a := func(s string) []byte { return netip.MustParseAddr(s).AsSlice() }
	j1 := &expr.Verdict{Kind: expr.VerdictJump, Chain: "masq-a"}
	j2 := &expr.Verdict{Kind: expr.VerdictJump, Chain: "masq-b"}
	orders := [][]gnft.SetElement{
		{{Key: a("10.244.0.0"), VerdictData: j1}, {Key: a("10.245.0.0"), VerdictData: j2}, {Key: a("10.245.0.0"), IntervalEnd: true}, {Key: a("10.246.0.0"), IntervalEnd: true}},
		{{Key: a("10.246.0.0"), IntervalEnd: true}, {Key: a("10.245.0.0"), IntervalEnd: true}, {Key: a("10.245.0.0"), VerdictData: j2}, {Key: a("10.244.0.0"), VerdictData: j1}},
	}
	for i, els := range orders {
		got, err := intervalElements("map", "src-v4", els)
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
		if len(got) != 2 || got[0].Key[0]+" "+got[0].Value[0] != "10.244.0.0/16 jump masq-a" || got[1].Key[0]+" "+got[1].Value[0] != "10.245.0.0/16 jump masq-b" {
			t.Fatalf("order %d: got %v %v", i, got[0], got[1])
		}
	}
}
