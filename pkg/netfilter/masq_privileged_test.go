package netfilter

import (
	"context"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/testutil"
)

// TestPrivilegedMasquerade runs both backends against the kernel in a fresh
// namespace: Ensure writes once, a covered Ensure leaves the ruleset
// byte-identical (handles included), Check sees tampering, Delete of the
// last owner restores the namespace's netfilter state.
func TestPrivilegedMasquerade(t *testing.T) {
	for _, b := range []Backend{NFTables, IPTables} {
		t.Run(string(b), func(t *testing.T) {
			n := testutil.NewNetNS(t, "masq")
			testutil.RequireFeature(t, string(b), inNS(n, func() error { return Usable(b) }))
			ctx := context.Background()
			initial := n.Netfilter(t)
			m, err := NewMasquerader(b)
			if err != nil {
				t.Fatal(err)
			}
			if b == IPTables {
				m = newIPTMasq(ExecRestorer{}, t.TempDir()+"/lock")
			}
			do := func(fn func() error) error { return inNS(n, fn) }
			subnets := prefixes(t, "10.22.0.0/16", "fd00:22::/64")
			if err := do(func() error { return m.EnsureMasquerade(ctx, "mynet", subnets) }); err != nil {
				t.Fatal(err)
			}
			if err := do(func() error { return m.EnsureMasquerade(ctx, "other", prefixes(t, "10.30.0.0/24", "0.0.0.0/1")) }); err == nil {
				t.Fatal("Ensure of a subnet overlapping another owner's succeeded")
			}
			if err := do(func() error { return m.EnsureMasquerade(ctx, "other", prefixes(t, "10.30.0.0/24")) }); err != nil {
				t.Fatal(err)
			}
			withHandles := func() string {
				return n.MustExec(t, "nft", "-a", "list", "ruleset")
			}
			written := withHandles()
			if err := do(func() error { return m.EnsureMasquerade(ctx, "mynet", prefixes(t, "10.22.3.4/16")) }); err != nil {
				t.Fatal(err)
			}
			if got := withHandles(); got != written {
				t.Fatalf("a covered Ensure changed the ruleset:\nbefore:\n%s\nafter:\n%s", written, got)
			}
			if err := do(func() error { return m.CheckMasquerade(ctx, "mynet", subnets) }); err != nil {
				t.Fatalf("Check: %v\n%s", err, written)
			}
			if err := do(func() error { return m.CheckMasquerade(ctx, "mynet", prefixes(t, "10.30.0.0/24")) }); err == nil {
				t.Fatal("Check of another owner's subnet succeeded")
			}
			if b == NFTables {
				n.MustExec(t, "nft", "flush", "chain", "inet", masqTable, ownerChain("mynet"))
			} else {
				n.MustExec(t, "iptables", "-t", "nat", "-F", iptOwnerChain("mynet"))
			}
			if err := do(func() error { return m.CheckMasquerade(ctx, "mynet", subnets) }); err == nil {
				t.Fatal("Check of a flushed owner chain succeeded")
			}
			if err := do(func() error { return m.EnsureMasquerade(ctx, "mynet", subnets) }); err != nil {
				t.Fatal(err)
			}
			if err := do(func() error { return m.CheckMasquerade(ctx, "mynet", subnets) }); err != nil {
				t.Fatalf("Check after repair: %v", err)
			}
			for _, owner := range []string{"mynet", "mynet", "other"} {
				if err := do(func() error { return m.DeleteMasquerade(ctx, owner) }); err != nil {
					t.Fatal(err)
				}
			}
			final := n.Netfilter(t)
			if b == IPTables {
				// iptables-nft leaves the (empty) nat tables it created.
				final = stripEmptyNat(final)
			}
			if final != initial {
				t.Fatalf("netfilter state after Delete differs:\nbefore:\n%s\nafter:\n%s", initial, final)
			}
		})
	}
}

func inNS(n *testutil.NetNS, fn func() error) error { return n.Do(fn) }

// stripEmptyNat drops the nat tables, with only built-in chains, that
// iptables-restore creates and cannot remove.
func stripEmptyNat(s string) string {
	var out []string
	skip := false
	for _, l := range strings.Split(s, "\n") {
		switch {
		case l == "*nat":
			skip = true
		case skip && l == "COMMIT":
			skip = false
			continue
		case strings.HasPrefix(l, "table ip nat") || strings.HasPrefix(l, "table ip6 nat"):
			skip = true
		case skip && l == "}":
			skip = false
			continue
		}
		if !skip {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
