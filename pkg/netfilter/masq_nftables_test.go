package netfilter

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

func prefixes(t *testing.T, s ...string) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, x := range s {
		out = append(out, netip.MustParsePrefix(x))
	}
	return out
}

func newFakeNFTMasq() (*nftMasq, *knftables.Fake) {
	fake := knftables.NewFake(knftables.InetFamily, masqTable)
	return newNFTMasqWith(fake), fake
}

const nftOneOwner = `add table inet podnet-masquerade { comment "podnet: source NAT of pod networks (bridge ipMasq, vxlan)" ; }
add chain inet podnet-masquerade masq-mynet-11c844f9 { comment "podnet masquerade owner: mynet" ; }
add chain inet podnet-masquerade postrouting { type nat hook postrouting priority 100 ; }
add set inet podnet-masquerade masq-mynet-11c844f9-v4 { type ipv4_addr ; flags interval ; }
add set inet podnet-masquerade masq-mynet-11c844f9-v6 { type ipv6_addr ; flags interval ; }
add map inet podnet-masquerade src-v4 { type ipv4_addr : verdict ; flags interval ; }
add map inet podnet-masquerade src-v6 { type ipv6_addr : verdict ; flags interval ; }
add rule inet podnet-masquerade masq-mynet-11c844f9 ip daddr @masq-mynet-11c844f9-v4 return
add rule inet podnet-masquerade masq-mynet-11c844f9 ip6 daddr @masq-mynet-11c844f9-v6 return
add rule inet podnet-masquerade masq-mynet-11c844f9 masquerade comment "podnet masquerade owner: mynet"
add rule inet podnet-masquerade postrouting ip daddr 224.0.0.0/4 return comment "podnet: never masquerade IPv4 multicast"
add rule inet podnet-masquerade postrouting ip6 daddr ff00::/8 return comment "podnet: never masquerade IPv6 multicast"
add rule inet podnet-masquerade postrouting ip saddr vmap @src-v4 comment "podnet: IPv4 pod subnets to their owner chain"
add rule inet podnet-masquerade postrouting ip6 saddr vmap @src-v6 comment "podnet: IPv6 pod subnets to their owner chain"
add element inet podnet-masquerade masq-mynet-11c844f9-v4 { 10.22.0.0/16 }
add element inet podnet-masquerade masq-mynet-11c844f9-v6 { fd00:22::/64 }
add element inet podnet-masquerade src-v4 { 10.22.0.0/16 : jump masq-mynet-11c844f9 }
add element inet podnet-masquerade src-v6 { fd00:22::/64 : jump masq-mynet-11c844f9 }
`

func TestNFTMasqEnsureGolden(t *testing.T) {
	ctx := context.Background()
	m, fake := newFakeNFTMasq()
	// Unmasked and duplicate input is normalized.
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.5/16", "fd00:22::7/64", "10.22.0.0/16")); err != nil {
		t.Fatal(err)
	}
	if got := fake.Dump(); got != nftOneOwner {
		t.Fatalf("after first Ensure:\n%s\nwant:\n%s", got, nftOneOwner)
	}
	if err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16", "fd00:22::/64")); err != nil {
		t.Fatalf("Check after Ensure: %v", err)
	}

	// A second pod of the same network: nothing is written.
	fake.LastTransaction = nil
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.9/16")); err != nil {
		t.Fatal(err)
	}
	if fake.LastTransaction != nil {
		t.Fatalf("Ensure of a covered subnet ran a transaction:\n%s", fake.LastTransaction)
	}
	if got := fake.Dump(); got != nftOneOwner {
		t.Fatalf("state changed by a covered Ensure:\n%s", got)
	}
}

func TestNFTMasqOwners(t *testing.T) {
	ctx := context.Background()
	m, fake := newFakeNFTMasq()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")))
	must(m.EnsureMasquerade(ctx, "vxlan:mynet", prefixes(t, "10.30.1.0/24")))
	// Growing an owner keeps its first subnet.
	must(m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.23.0.0/16")))
	must(m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16", "10.23.0.0/16")))
	must(m.CheckMasquerade(ctx, "vxlan:mynet", prefixes(t, "10.30.1.0/24")))

	err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.30.1.0/24"))
	if err == nil || !strings.Contains(err.Error(), "another owner") {
		t.Fatalf("Check of another owner's subnet = %v, want an error naming the other owner", err)
	}
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.30.1.0/24")); err == nil {
		t.Fatal("Ensure of another owner's subnet succeeded")
	}
	if err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.99.0.0/16")); err == nil || !strings.Contains(err.Error(), "10.99.0.0/16") {
		t.Fatalf("Check of a missing subnet = %v, want an error naming it", err)
	}

	must(m.DeleteMasquerade(ctx, "mynet"))
	dump := fake.Dump()
	if strings.Contains(dump, "masq-mynet-") || strings.Contains(dump, "10.22.") || strings.Contains(dump, "10.23.") {
		t.Fatalf("owner mynet left objects behind:\n%s", dump)
	}
	must(m.CheckMasquerade(ctx, "vxlan:mynet", prefixes(t, "10.30.1.0/24")))
	if err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")); err == nil {
		t.Fatal("Check after Delete succeeded")
	}
	// Deleting an absent owner is fine; deleting the last owner drops the table.
	must(m.DeleteMasquerade(ctx, "mynet"))
	must(m.DeleteMasquerade(ctx, "vxlan:mynet"))
	if got := fake.Dump(); got != "" {
		t.Fatalf("table left after the last owner was deleted:\n%s", got)
	}
	must(m.DeleteMasquerade(ctx, "vxlan:mynet"))
}

func TestNFTMasqCheckDetectsTampering(t *testing.T) {
	ctx := context.Background()
	m, fake := newFakeNFTMasq()
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")); err != nil {
		t.Fatal(err)
	}
	tx := fake.NewTransaction()
	tx.Flush(&knftables.Chain{Name: ownerChain("mynet")})
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16"))
	if err == nil || !strings.Contains(err.Error(), ownerChain("mynet")) {
		t.Fatalf("Check of a flushed owner chain = %v, want an error naming the chain", err)
	}
	// Ensure repairs it.
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")); err != nil {
		t.Fatal(err)
	}
	tx = fake.NewTransaction()
	tx.Delete(&knftables.Element{Set: ownerSet("mynet", false), Key: []string{"10.22.0.0/16"}})
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")); err == nil {
		t.Fatal("Check with the subnet missing from the owner set succeeded")
	}
	if err := m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.0.0/16")); err != nil {
		t.Fatal(err)
	}
	if got := fake.Dump(); !strings.Contains(got, "add element inet podnet-masquerade masq-mynet-11c844f9-v4 { 10.22.0.0/16 }") {
		t.Fatalf("Ensure did not restore the set element:\n%s", got)
	}
}

func TestMasqEmptyOwner(t *testing.T) {
	m, _ := newFakeNFTMasq()
	if err := m.EnsureMasquerade(context.Background(), "", prefixes(t, "10.0.0.0/8")); err == nil {
		t.Fatal("empty owner accepted")
	}
	if err := m.EnsureMasquerade(context.Background(), "x", nil); err != nil {
		t.Fatalf("no subnets: %v", err)
	}
}
