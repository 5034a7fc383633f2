package netfilter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"sigs.k8s.io/knftables"
)

// TestRefHashes: the names and comment hashes match the reference's (its
// utils package), computed with sha512sum:
//
//	printf 'upgrcid1' | sha512sum | cut -c1-24
func TestRefHashes(t *testing.T) {
	if got, want := refIPTChain("upgr", "cid1"), "CNI-22088c6783d175029508c119"; got != want {
		t.Errorf("refIPTChain = %q, want %q", got, want)
	}
	if got, want := refNFTInstance("upgr", "eth0", "cid1"), "4c620b5b382b6ddd-0b65a318f52e521b"; got != want {
		t.Errorf("refNFTInstance = %q, want %q", got, want)
	}
}

// refIPTSeed is what the reference's iptables ipMasq adds for one pod
// address (pkg/ip SetupIPMasq), as iptables-restore input.
func refIPTSeed(network, id, addr, subnet string) string {
	chain := refIPTChain(network, id)
	comment := quoteIPTArg(fmt.Sprintf("name: %q id: %q", network, id))
	return fmt.Sprintf(":%s - [0:0]\n-A %s -d %s -m comment --comment %s -j ACCEPT\n-A %s ! -d 224.0.0.0/4 -m comment --comment %s -j MASQUERADE\n-A POSTROUTING -s %s/32 -m comment --comment %s -j %s\n",
		chain, chain, subnet, comment, chain, comment, addr, comment, chain)
}

// TestGCReferenceIPT: GC removes the reference's chains and jumps of the
// network's attachments that are not valid, and nothing else: not a valid
// attachment's, not another network's, not a rule that only looks alike.
func TestGCReferenceIPT(t *testing.T) {
	ctx := context.Background()
	f := newMasqFakeIPT()
	seed := refIPTSeed("upgr", "cid-a", "10.1.0.2", "10.1.0.0/24") +
		refIPTSeed("upgr", "cid-b", "10.1.0.3", "10.1.0.0/24") +
		refIPTSeed("other", "cid-c", "10.2.0.2", "10.2.0.0/24") +
		// The network's comment on a jump to a chain not named after it.
		":KEEP - [0:0]\n-A POSTROUTING -s 10.1.0.9/32 -m comment --comment \"name: \\\"upgr\\\" id: \\\"cid-z\\\"\" -j KEEP\n"
	if err := f.Restore(ctx, IPv4, "*nat\n"+seed+"COMMIT\n"); err != nil {
		t.Fatal(err)
	}
	valid := []types.GCAttachment{{ContainerID: "cid-b", IfName: "eth0"}}
	saved, _ := f.Save(ctx, IPv4, "nat")
	tab, err := parseIPTSave(saved)
	if err != nil {
		t.Fatal(err)
	}
	a := refIPTChain("upgr", "cid-a")
	wantPlan := "*nat\n" +
		"-D POSTROUTING -s 10.1.0.2/32 -m comment --comment \"name: \\\"upgr\\\" id: \\\"cid-a\\\"\" -j " + a + "\n" +
		":" + a + " - [0:0]\n-X " + a + "\nCOMMIT\n"
	if got := planReferenceIPTDelete(tab, "upgr", valid); got != wantPlan {
		t.Errorf("plan:\n%s\nwant:\n%s", got, wantPlan)
	}
	before := f.restores
	if err := gcReferenceIPT(ctx, f, IPv4, "upgr", valid); err != nil {
		t.Fatal(err)
	}
	after, _ := f.Save(ctx, IPv4, "nat")
	if strings.Contains(after, a) || strings.Contains(after, `\"cid-a\"`) {
		t.Errorf("cid-a's chain or jump is still there:\n%s", after)
	}
	for _, keep := range []string{refIPTChain("upgr", "cid-b"), refIPTChain("other", "cid-c"), "-j KEEP"} {
		if !strings.Contains(after, keep) {
			t.Errorf("%s is gone:\n%s", keep, after)
		}
	}
	// Nothing left to do: no second restore.
	if err := gcReferenceIPT(ctx, f, IPv4, "upgr", valid); err != nil {
		t.Fatal(err)
	}
	if f.restores != before+1 {
		t.Errorf("restores = %d, want %d (one GC that removed something, one that had nothing to do)", f.restores, before+1)
	}
	// With no valid attachment, cid-b's goes too; the other network's stays.
	if err := gcReferenceIPT(ctx, f, IPv4, "upgr", nil); err != nil {
		t.Fatal(err)
	}
	after, _ = f.Save(ctx, IPv4, "nat")
	if strings.Contains(after, refIPTChain("upgr", "cid-b")) || !strings.Contains(after, refIPTChain("other", "cid-c")) {
		t.Errorf("after GC with no valid attachment:\n%s", after)
	}
}

// TestGCReferenceNFT: GC deletes the reference's masq_checks rules of the
// network's stale attachments and keeps the rest.
func TestGCReferenceNFT(t *testing.T) {
	ctx := context.Background()
	fake := knftables.NewFake(knftables.InetFamily, refNFTTable)
	if err := gcReferenceNFT(ctx, fake, "upgr", nil); err != nil {
		t.Fatalf("GC without the reference's table: %v", err)
	}
	tx := fake.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Add(&knftables.Chain{Name: refNFTChain})
	for _, r := range []struct{ net, ifname, id, addr string }{
		{"upgr", "eth0", "cid-a", "10.1.0.2"},
		{"upgr", "eth0", "cid-b", "10.1.0.3"},
		{"upgr", "eth1", "cid-b", "10.1.0.4"},
		{"other", "eth0", "cid-a", "10.2.0.2"},
	} {
		comment := fmt.Sprintf("%s, net: %s, if: %s, id: %s", refNFTInstance(r.net, r.ifname, r.id), r.net, r.ifname, r.id)
		tx.Add(&knftables.Rule{Chain: refNFTChain, Rule: "ip saddr == " + r.addr + " masquerade", Comment: &comment})
	}
	if err := fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	valid := []types.GCAttachment{{ContainerID: "cid-b", IfName: "eth0"}}
	if err := gcReferenceNFT(ctx, fake, "upgr", valid); err != nil {
		t.Fatal(err)
	}
	rules, err := fake.ListRules(ctx, refNFTChain)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range rules {
		left = append(left, r.Rule)
	}
	want := "ip saddr == 10.1.0.3 masquerade|ip saddr == 10.2.0.2 masquerade"
	if got := strings.Join(left, "|"); got != want {
		t.Errorf("rules left = %s, want %s", got, want)
	}
}

func TestParseRefIPTComment(t *testing.T) {
	for _, c := range []struct {
		in, net, id string
		ok          bool
	}{
		{`name: "upgr" id: "cid1"`, "upgr", "cid1", true},
		{`name: "a \"b\"" id: "c d"`, `a "b"`, "c d", true},
		{`name: "upgr" id: "cid1" x`, "", "", false},
		{`name: "upgr"`, "", "", false},
		{`name: upgr id: "cid1"`, "", "", false},
		{`CNI portfwd masquerade mark`, "", "", false},
		{``, "", "", false},
	} {
		n, id, ok := parseRefIPTComment(c.in)
		if ok != c.ok || ok && (n != c.net || id != c.id) {
			t.Errorf("parseRefIPTComment(%q) = %q, %q, %v; want %q, %q, %v", c.in, n, id, ok, c.net, c.id, c.ok)
		}
	}
}
