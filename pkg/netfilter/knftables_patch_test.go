package netfilter

import (
	"context"
	"testing"

	"sigs.k8s.io/knftables"
)

// TestKnftablesLazyRegexps covers podnet's patch of knftables
// (third_party/knftables/PODNET.md): the regexps that parse nft output,
// built and compiled on first use, still parse every kind of object. A
// dump of one of each, parsed into a new fake, dumps the same.
func TestKnftablesLazyRegexps(t *testing.T) {
	ctx := context.Background()
	a := knftables.NewFake(knftables.InetFamily, "t")
	tx := a.NewTransaction()
	tx.Add(&knftables.Table{Comment: knftables.PtrTo("table comment")})
	tx.Add(&knftables.Chain{Name: "c", Type: knftables.PtrTo(knftables.NATType), Hook: knftables.PtrTo(knftables.PostroutingHook),
		Priority: knftables.PtrTo(knftables.SNATPriority), Comment: knftables.PtrTo("chain comment")})
	tx.Add(&knftables.Rule{Chain: "c", Rule: "ip saddr 10.0.0.0/8 masquerade", Comment: knftables.PtrTo("rule comment")})
	tx.Add(&knftables.Set{Name: "s", Type: "ipv4_addr", Flags: []knftables.SetFlag{knftables.IntervalFlag}})
	tx.Add(&knftables.Map{Name: "m", Type: "ipv4_addr . inet_service : verdict"})
	tx.Add(&knftables.Element{Set: "s", Key: []string{"10.1.0.0/16"}})
	tx.Add(&knftables.Element{Map: "m", Key: []string{"10.0.0.1", "80"}, Value: []string{"goto c"}})
	tx.Add(&knftables.Counter{Name: "n", Comment: knftables.PtrTo("counter comment")})
	tx.Add(&knftables.Flowtable{Name: "f", Priority: knftables.PtrTo(knftables.FilterIngressPriority), Devices: []string{"lo"}})
	if err := a.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	dump := a.Dump()
	b := knftables.NewFake(knftables.InetFamily, "t")
	if err := b.ParseDump(dump); err != nil {
		t.Fatalf("parse the dump: %v\n%s", err, dump)
	}
	if got := b.Dump(); got != dump {
		t.Errorf("parsed dump differs:\n%s\nwant:\n%s", got, dump)
	}
}
