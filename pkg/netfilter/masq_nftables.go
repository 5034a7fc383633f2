package netfilter

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"sigs.k8s.io/knftables"
)

// The nftables masquerade objects. One table holds every owner:
//
//	table inet podnet-masquerade
//	  chain postrouting      nat hook, priority srcnat; fixed content:
//	                           ip daddr 224.0.0.0/4 return
//	                           ip6 daddr ff00::/8 return
//	                           ip saddr vmap @src-v4
//	                           ip6 saddr vmap @src-v6
//	  map src-v4, src-v6     owner subnet -> jump masq-<slug>
//	  chain masq-<slug>      per owner, fixed content:
//	                           ip daddr @masq-<slug>-v4 return
//	                           ip6 daddr @masq-<slug>-v6 return
//	                           masquerade
//	  set masq-<slug>-v4/-v6 the owner's subnets (never masqueraded to)
//
// Every write is idempotent (add of an existing object or element is a
// no-op; fixed chains are flushed and rewritten with the same content), so
// concurrent writers need no lock. Adding a subnet to an owner adds two
// elements; no rule is ever per pod.
const (
	masqTable       = "podnet-masquerade"
	masqPostrouting = "postrouting"
	masqSrcV4       = "src-v4"
	masqSrcV6       = "src-v6"
	masqTableNote   = "podnet: source NAT of pod networks (bridge ipMasq, vxlan)"
)

// Rule comments that mark the fixed rules of the postrouting chain, so a
// check can tell them apart without parsing rule text.
const (
	noteMcastV4   = "podnet: never masquerade IPv4 multicast"
	noteMcastV6   = "podnet: never masquerade IPv6 multicast"
	noteDispatch4 = "podnet: IPv4 pod subnets to their owner chain"
	noteDispatch6 = "podnet: IPv6 pod subnets to their owner chain"
)

// nftReader is the read half of knftables.Interface that the masquerader
// uses. knftables.Fake implements it for tests.
type nftReader interface {
	// List returns the names of the table's objects of a type; a missing
	// table is a knftables not-found error.
	List(ctx context.Context, objectType string) ([]string, error)
	// ListRules returns the rules of a chain with their comments.
	ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error)
	// ListElements returns a set's or map's elements.
	ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error)
}

// nftMasq is the nftables Masquerader.
type nftMasq struct {
	read nftReader
	// nft returns the handle that runs transactions; the real one starts
	// the nft tool, so it is opened only when something must be written.
	nft func() (knftables.Interface, error)
}

// newNFTMasq returns the Masquerader that works on the real kernel.
func newNFTMasq() *nftMasq {
	open := sync.OnceValues(func() (knftables.Interface, error) {
		nft, err := knftables.New(knftables.InetFamily, masqTable)
		if err != nil {
			return nil, fmt.Errorf("open nftables table inet %s: %w", masqTable, err)
		}
		return nft, nil
	})
	return &nftMasq{read: newNFTNetlinkReader(masqTable), nft: open}
}

// newNFTMasqWith returns a Masquerader over nft, which serves reads too
// (knftables.Fake in tests).
func newNFTMasqWith(nft knftables.Interface) *nftMasq {
	return &nftMasq{read: nft, nft: func() (knftables.Interface, error) { return nft, nil }}
}

// ownerChain is the name of an owner's chain, "masq-<slug>".
func ownerChain(owner string) string { return "masq-" + ownerSlug(owner) }

// ownerSet is the name of the set of an owner's subnets of one family.
func ownerSet(owner string, v6 bool) string {
	if v6 {
		return ownerChain(owner) + "-v6"
	}
	return ownerChain(owner) + "-v4"
}

// srcMap is the name of the source-subnet map of a family.
func srcMap(v6 bool) string {
	if v6 {
		return masqSrcV6
	}
	return masqSrcV4
}

// ipKeyword and addrType are the nft spellings of a family.
func ipKeyword(v6 bool) string {
	if v6 {
		return "ip6"
	}
	return "ip"
}

func addrType(v6 bool) string {
	if v6 {
		return "ipv6_addr"
	}
	return "ipv4_addr"
}

func jumpTo(chain string) string { return "jump " + chain }

// ownerNote is the comment that names the owner on its chain and its
// masquerade rule (nft allows 128 bytes).
func ownerNote(owner string) string {
	s := "podnet masquerade owner: " + owner
	return s[:min(len(s), 127)]
}

func familyOf(p netip.Prefix) (v6 bool) { return !p.Addr().Is4() }

func elementKey(e *knftables.Element) string { return strings.Join(e.Key, " . ") }

// EnsureMasquerade is part of Masquerader. It reads the owner's map
// entries, set elements and chain rules, and writes one transaction only
// when something is missing.
func (m *nftMasq) EnsureMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	subnets = normSubnets(subnets)
	if len(subnets) == 0 {
		return nil
	}
	missing, err := m.missing(ctx, owner, subnets)
	if err != nil {
		return fmt.Errorf("read masquerade state of %q: %w", owner, err)
	}
	if len(missing) == 0 {
		if m.checkChains(ctx, owner) == nil {
			return nil
		}
		missing = subnets // the chains need repair; rewrite everything
	}
	nft, err := m.nft()
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	planEnsure(tx, owner, subnets)
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("ensure masquerade of %q for %v in table inet %s: %w", owner, missing, masqTable, err)
	}
	return nil
}

// missing returns the subnets whose src map entry or owner set element is
// absent. A subnet mapped to another owner is an error: masquerading it
// for us would silently change the other owner's traffic.
func (m *nftMasq) missing(ctx context.Context, owner string, subnets []netip.Prefix) ([]netip.Prefix, error) {
	var missing []netip.Prefix
	for _, v6 := range []bool{false, true} {
		var fam []netip.Prefix
		for _, p := range subnets {
			if familyOf(p) == v6 {
				fam = append(fam, p)
			}
		}
		if len(fam) == 0 {
			continue
		}
		mapped, err := m.elements(ctx, "map", srcMap(v6))
		if err != nil {
			return nil, err
		}
		inSet, err := m.elements(ctx, "set", ownerSet(owner, v6))
		if err != nil {
			return nil, err
		}
		for _, p := range fam {
			if err := checkOverlap(p, mapped, jumpTo(ownerChain(owner))); err != nil {
				return nil, fmt.Errorf("%w (map %s)", err, srcMap(v6))
			}
			_, ok := mapped[p]
			if _, in := inSet[p]; !ok || !in {
				missing = append(missing, p)
			}
		}
	}
	return missing, nil
}

// elements reads a set or map as prefix -> value ("" for sets). A missing
// table or object is an empty result.
func (m *nftMasq) elements(ctx context.Context, objectType, name string) (map[netip.Prefix]string, error) {
	els, err := m.read.ListElements(ctx, objectType, name)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s %s: %w", objectType, name, err)
	}
	out := make(map[netip.Prefix]string, len(els))
	for _, e := range els {
		if p, ok := parsePrefix(elementKey(e)); ok {
			out[p] = strings.Join(e.Value, " ")
		}
	}
	return out, nil
}

// planEnsure adds, in an order the kernel accepts (every chain before the
// maps whose elements jump to it), the shared objects, the owner's objects,
// the fixed rules of both chains (flushed and rewritten: the same content
// every time), and one set element and one map element per subnet.
func planEnsure(tx *knftables.Transaction, owner string, subnets []netip.Prefix) {
	chain := ownerChain(owner)
	tx.Add(&knftables.Table{Comment: knftables.PtrTo(masqTableNote)})
	tx.Add(&knftables.Chain{
		Name:     masqPostrouting,
		Type:     knftables.PtrTo(knftables.NATType),
		Hook:     knftables.PtrTo(knftables.PostroutingHook),
		Priority: knftables.PtrTo(knftables.SNATPriority),
	})
	tx.Add(&knftables.Chain{Name: chain, Comment: knftables.PtrTo(ownerNote(owner))})
	for _, v6 := range []bool{false, true} {
		tx.Add(&knftables.Set{Name: ownerSet(owner, v6), Type: addrType(v6), Flags: []knftables.SetFlag{knftables.IntervalFlag}})
		tx.Add(&knftables.Map{Name: srcMap(v6), Type: addrType(v6) + " : verdict", Flags: []knftables.SetFlag{knftables.IntervalFlag}})
	}
	planPostroutingRules(tx)
	tx.Flush(&knftables.Chain{Name: chain})
	for _, v6 := range []bool{false, true} {
		tx.Add(&knftables.Rule{Chain: chain, Rule: knftables.Concat(ipKeyword(v6), "daddr", "@"+ownerSet(owner, v6), "return")})
	}
	tx.Add(&knftables.Rule{Chain: chain, Rule: "masquerade", Comment: knftables.PtrTo(ownerNote(owner))})
	for _, p := range subnets {
		v6 := familyOf(p)
		tx.Add(&knftables.Element{Set: ownerSet(owner, v6), Key: []string{p.String()}})
		tx.Add(&knftables.Element{Map: srcMap(v6), Key: []string{p.String()}, Value: []string{jumpTo(chain)}})
	}
}

// planPostroutingRules rewrites the fixed content of the postrouting chain.
func planPostroutingRules(tx *knftables.Transaction) {
	tx.Flush(&knftables.Chain{Name: masqPostrouting})
	rule := func(note string, parts ...any) {
		tx.Add(&knftables.Rule{Chain: masqPostrouting, Rule: knftables.Concat(parts...), Comment: knftables.PtrTo(note)})
	}
	rule(noteMcastV4, "ip daddr", multicastV4, "return")
	rule(noteMcastV6, "ip6 daddr", multicastV6, "return")
	rule(noteDispatch4, "ip saddr vmap", "@"+masqSrcV4)
	rule(noteDispatch6, "ip6 saddr vmap", "@"+masqSrcV6)
}

// CheckMasquerade is part of Masquerader.
func (m *nftMasq) CheckMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	if err := m.checkChains(ctx, owner); err != nil {
		return fmt.Errorf("check masquerade of %q: %w", owner, err)
	}
	missing, err := m.missing(ctx, owner, normSubnets(subnets))
	if err != nil {
		return fmt.Errorf("check masquerade of %q: %w", owner, err)
	}
	if len(missing) > 0 {
		return fmt.Errorf("check masquerade of %q: subnets %v are not masqueraded (table inet %s)", owner, missing, masqTable)
	}
	return nil
}

// checkChains verifies the fixed rules of postrouting and of the owner's
// chain, by their comments and count.
func (m *nftMasq) checkChains(ctx context.Context, owner string) error {
	want := map[string][]string{
		masqPostrouting:   {noteMcastV4, noteMcastV6, noteDispatch4, noteDispatch6},
		ownerChain(owner): {"", "", ownerNote(owner)},
	}
	for _, chain := range []string{masqPostrouting, ownerChain(owner)} {
		rules, err := m.read.ListRules(ctx, chain)
		if err != nil {
			return fmt.Errorf("list chain inet %s %s: %w", masqTable, chain, err)
		}
		var got []string
		for _, r := range rules {
			got = append(got, knftablesComment(r))
		}
		if !slices.Equal(got, want[chain]) {
			return fmt.Errorf("chain inet %s %s has rules %q, want %q", masqTable, chain, got, want[chain])
		}
	}
	return nil
}

func knftablesComment(r *knftables.Rule) string {
	if r.Comment == nil {
		return ""
	}
	return *r.Comment
}

// DeleteMasquerade is part of Masquerader. When the owner is the last one
// it deletes the whole table; otherwise it removes the owner's map
// elements, chain and sets, in one transaction either way.
func (m *nftMasq) DeleteMasquerade(ctx context.Context, owner string) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	chains, err := m.read.List(ctx, "chain")
	if isNotFound(err) {
		return nil // no table: nothing of anyone's is left
	}
	if err != nil {
		return fmt.Errorf("delete masquerade of %q: list chains of table inet %s: %w", owner, masqTable, err)
	}
	others := slices.ContainsFunc(chains, func(c string) bool {
		return strings.HasPrefix(c, "masq-") && c != ownerChain(owner)
	})
	nft, err := m.nft()
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	if !others {
		// The last owner: the whole table goes, shared objects included.
		tx.Delete(&knftables.Table{})
	} else if err := m.planDeleteOwner(ctx, tx, owner, slices.Contains(chains, ownerChain(owner))); err != nil {
		return fmt.Errorf("delete masquerade of %q: %w", owner, err)
	}
	if tx.NumOperations() == 0 {
		return nil
	}
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("delete masquerade of %q from table inet %s: %w", owner, masqTable, err)
	}
	return nil
}

// planDeleteOwner removes the owner's map elements, then its chain (which
// must no longer be referenced) and sets.
func (m *nftMasq) planDeleteOwner(ctx context.Context, tx *knftables.Transaction, owner string, hasChain bool) error {
	for _, v6 := range []bool{false, true} {
		mapped, err := m.elements(ctx, "map", srcMap(v6))
		if err != nil {
			return err
		}
		for _, p := range slices.SortedFunc(maps.Keys(mapped), comparePrefix) {
			if mapped[p] == jumpTo(ownerChain(owner)) {
				tx.Delete(&knftables.Element{Map: srcMap(v6), Key: []string{p.String()}})
			}
		}
	}
	if !hasChain {
		return nil
	}
	tx.Flush(&knftables.Chain{Name: ownerChain(owner)})
	tx.Delete(&knftables.Chain{Name: ownerChain(owner)})
	for _, v6 := range []bool{false, true} {
		tx.Add(&knftables.Set{Name: ownerSet(owner, v6), Type: addrType(v6), Flags: []knftables.SetFlag{knftables.IntervalFlag}})
		tx.Delete(&knftables.Set{Name: ownerSet(owner, v6)})
	}
	return nil
}
