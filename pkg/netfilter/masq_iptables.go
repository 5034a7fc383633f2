package netfilter

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The iptables masquerade objects, in the nat table of each family:
//
//	POSTROUTING  -m comment --comment "podnet masquerade" -j PODNET-MASQ
//	PODNET-MASQ  one rule per owner subnet: -s <subnet> -j PODNET-MASQ-<hash>
//	PODNET-MASQ-<hash>  per owner, rewritten as a whole:
//	               -d <each owner subnet> -j RETURN
//	               -d 224.0.0.0/4 (ff00::/8) -j RETURN
//	               -j MASQUERADE
//
// Writers hold a flock (lockPath) across read and write, because appending
// a rule is not idempotent.
const (
	iptMasqChain = "PODNET-MASQ"
	iptNote      = "podnet masquerade"
)

// iptMasq is the iptables Masquerader.
type iptMasq struct {
	r        Restorer
	lockPath string
}

// newIPTMasq returns the iptables Masquerader over r; lockPath "" disables
// the writer lock (unit tests).
func newIPTMasq(r Restorer, lockPath string) *iptMasq {
	return &iptMasq{r: r, lockPath: lockPath}
}

// iptOwnerChain is an owner's chain: PODNET-MASQ- and 16 hex digits of its
// hash, 28 characters, the iptables limit.
func iptOwnerChain(owner string) string {
	return iptMasqChain + "-" + strings.ToUpper(ownerHash(owner)[:16])
}

func iptOwnerNote(owner string) string {
	s := iptNote + " owner: " + owner
	return s[:min(len(s), 200)]
}

func familyOfV6(v6 bool) Family {
	if v6 {
		return IPv6
	}
	return IPv4
}

// EnsureMasquerade is part of Masquerader: one iptables-save per family
// in use, and one iptables-restore per family that lacks something.
func (m *iptMasq) EnsureMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	v4, v6 := splitFamilies(normSubnets(subnets))
	var todo []bool
	for _, fam := range []struct {
		v6      bool
		subnets []netip.Prefix
	}{{false, v4}, {true, v6}} {
		if len(fam.subnets) == 0 {
			continue
		}
		t, err := m.save(ctx, familyOfV6(fam.v6))
		if err != nil {
			return fmt.Errorf("ensure masquerade of %q: %w", owner, err)
		}
		why, err := iptMissing(t, owner, fam.subnets)
		if err != nil {
			return fmt.Errorf("ensure masquerade of %q: %w", owner, err)
		}
		if why != "" {
			todo = append(todo, fam.v6)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	unlock, err := lockFile(m.lockPath)
	if err != nil {
		return fmt.Errorf("ensure masquerade of %q: %w", owner, err)
	}
	defer unlock()
	for _, fv6 := range todo {
		subs := v4
		if fv6 {
			subs = v6
		}
		if err := m.ensureFamily(ctx, owner, familyOfV6(fv6), subs); err != nil {
			return fmt.Errorf("ensure masquerade of %q for %v: %w", owner, subs, err)
		}
	}
	return nil
}

// ensureFamily re-reads the table under the lock and writes what is
// missing: the owner's chain rewritten for the union of its old and new
// subnets, the jumps to it, and the shared chain if absent.
func (m *iptMasq) ensureFamily(ctx context.Context, owner string, f Family, subnets []netip.Prefix) error {
	t, err := m.save(ctx, f)
	if err != nil {
		return err
	}
	why, err := iptMissing(t, owner, subnets)
	if err != nil {
		return err
	}
	if why == "" {
		return nil // another writer did it while we waited for the lock
	}
	return m.restore(ctx, f, planIPTOwner(t, owner, f, subnets))
}

// planIPTOwner builds the iptables-restore input for ensureFamily.
func planIPTOwner(t *iptSaved, owner string, f Family, subnets []netip.Prefix) string {
	chain := iptOwnerChain(owner)
	all := normSubnets(append(iptOwnerSubnets(t, owner), subnets...))
	var b strings.Builder
	b.WriteString("*nat\n")
	if !t.chains[iptMasqChain] {
		fmt.Fprintf(&b, ":%s - [0:0]\n", iptMasqChain)
	}
	fmt.Fprintf(&b, ":%s - [0:0]\n", chain) // declaring flushes: the chain is rewritten whole
	if !iptHasJump(t, "POSTROUTING", iptMasqChain) {
		fmt.Fprintf(&b, "-A POSTROUTING -m comment --comment %s -j %s\n", quoteIPTArg(iptNote), iptMasqChain)
	}
	for _, p := range all {
		fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", chain, p)
	}
	mc := multicastV4
	if f == IPv6 {
		mc = multicastV6
	}
	fmt.Fprintf(&b, "-A %s -d %s -j RETURN\n", chain, mc)
	fmt.Fprintf(&b, "-A %s -m comment --comment %s -j MASQUERADE\n", chain, quoteIPTArg(iptOwnerNote(owner)))
	jumped := iptJumpSources(t, owner)
	for _, p := range all {
		if !slices.Contains(jumped, p) {
			fmt.Fprintf(&b, "-A %s -s %s -m comment --comment %s -j %s\n", iptMasqChain, p, quoteIPTArg(iptOwnerNote(owner)), chain)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// iptMissing names the first thing that keeps the owner's rules from
// covering subnets, or returns "". A subnet overlapping another owner's is
// an error.
func iptMissing(t *iptSaved, owner string, subnets []netip.Prefix) (string, error) {
	chain := iptOwnerChain(owner)
	for _, p := range subnets {
		if err := checkOverlap(p, iptAllJumps(t), chain); err != nil {
			return "", err
		}
	}
	if !iptHasJump(t, "POSTROUTING", iptMasqChain) {
		return "no POSTROUTING jump to " + iptMasqChain, nil
	}
	if !t.chains[chain] {
		return "no chain " + chain, nil
	}
	rules := t.rulesOf(chain)
	if len(rules) == 0 || rules[len(rules)-1].opt("-j") != "MASQUERADE" {
		return "chain " + chain + " does not end in MASQUERADE", nil
	}
	jumped, own := iptJumpSources(t, owner), iptOwnerSubnets(t, owner)
	for _, p := range subnets {
		if !slices.Contains(jumped, p) {
			return fmt.Sprintf("no %s rule for source %s", iptMasqChain, p), nil
		}
		if !slices.Contains(own, p) {
			return fmt.Sprintf("chain %s does not exempt destination %s", chain, p), nil
		}
	}
	return "", nil
}

// iptHasJump reports whether chain has a rule jumping to target.
func iptHasJump(t *iptSaved, chain, target string) bool {
	return slices.ContainsFunc(t.rulesOf(chain), func(r iptRule) bool { return r.opt("-j") == target })
}

// iptJumpSources returns the source subnets PODNET-MASQ sends to the
// owner's chain.
func iptJumpSources(t *iptSaved, owner string) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range t.rulesOf(iptMasqChain) {
		if r.opt("-j") != iptOwnerChain(owner) {
			continue
		}
		if p, ok := r.prefixOpt("-s"); ok {
			out = append(out, p)
		}
	}
	return out
}

// iptAllJumps maps every source subnet in PODNET-MASQ to its target chain.
func iptAllJumps(t *iptSaved) map[netip.Prefix]string {
	out := map[netip.Prefix]string{}
	for _, r := range t.rulesOf(iptMasqChain) {
		if p, ok := r.prefixOpt("-s"); ok {
			out[p] = r.opt("-j")
		}
	}
	return out
}

// iptOwnerSubnets returns the destinations the owner's chain exempts,
// multicast excluded: the owner's subnets.
func iptOwnerSubnets(t *iptSaved, owner string) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range t.rulesOf(iptOwnerChain(owner)) {
		p, ok := r.prefixOpt("-d")
		if ok && r.opt("-j") == "RETURN" && p != multicastV4 && p != multicastV6 {
			out = append(out, p)
		}
	}
	return out
}

// CheckMasquerade is part of Masquerader.
func (m *iptMasq) CheckMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	v4, v6 := splitFamilies(normSubnets(subnets))
	for _, fam := range []struct {
		f       Family
		subnets []netip.Prefix
	}{{IPv4, v4}, {IPv6, v6}} {
		if len(fam.subnets) == 0 {
			continue
		}
		t, err := m.save(ctx, fam.f)
		if err != nil {
			return fmt.Errorf("check masquerade of %q: %w", owner, err)
		}
		why, err := iptMissing(t, owner, fam.subnets)
		if err != nil {
			return fmt.Errorf("check masquerade of %q: %w", owner, err)
		}
		if why != "" {
			return fmt.Errorf("check masquerade of %q for %v: %s (table nat, %s)", owner, fam.subnets, why, fam.f.saveTool())
		}
	}
	return nil
}

// DeleteMasquerade is part of Masquerader: per family, one iptables-save,
// and one iptables-restore when the owner has something there. It tries
// both families and reports every failure.
func (m *iptMasq) DeleteMasquerade(ctx context.Context, owner string) error {
	if err := validateOwner(owner); err != nil {
		return err
	}
	unlock, err := lockFile(m.lockPath)
	if err != nil {
		return fmt.Errorf("delete masquerade of %q: %w", owner, err)
	}
	defer unlock()
	var errs []error
	for _, f := range []Family{IPv4, IPv6} {
		if err := m.deleteFamily(ctx, owner, f); err != nil {
			errs = append(errs, fmt.Errorf("delete masquerade of %q: %w", owner, err))
		}
	}
	return errors.Join(errs...)
}

// deleteFamily removes the owner's rules from one family; the families are
// independent, so a failure in one does not stop the other.
func (m *iptMasq) deleteFamily(ctx context.Context, owner string, f Family) error {
	t, err := m.save(ctx, f)
	if err != nil {
		return err
	}
	input := planIPTDelete(t, owner)
	if input == "" {
		return nil // nothing of the owner's in this family
	}
	return m.restore(ctx, f, input)
}

// planIPTDelete builds the iptables-restore input that removes the owner's
// jumps and chain, and the shared chain and its POSTROUTING jump when no
// other owner uses them; "" when there is nothing to remove.
func planIPTDelete(t *iptSaved, owner string) string {
	chain := iptOwnerChain(owner)
	var b strings.Builder
	others := false
	for _, r := range t.rulesOf(iptMasqChain) {
		if r.opt("-j") == chain {
			fmt.Fprintf(&b, "-D %s %s\n", iptMasqChain, r.spec)
		} else {
			others = true
		}
	}
	if t.chains[chain] {
		fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", chain, chain)
	}
	if !others && (t.chains[iptMasqChain] || iptHasJump(t, "POSTROUTING", iptMasqChain)) && b.Len() > 0 {
		for _, r := range t.rulesOf("POSTROUTING") {
			if r.opt("-j") == iptMasqChain {
				fmt.Fprintf(&b, "-D POSTROUTING %s\n", r.spec)
			}
		}
		if t.chains[iptMasqChain] {
			fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", iptMasqChain, iptMasqChain)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "*nat\n" + b.String() + "COMMIT\n"
}

func (m *iptMasq) save(ctx context.Context, f Family) (*iptSaved, error) {
	out, err := m.r.Save(ctx, f, "nat")
	if err != nil {
		return nil, fmt.Errorf("read nat table: %w", err)
	}
	t, err := parseIPTSave(out)
	if err != nil {
		return nil, fmt.Errorf("read nat table: %w", err)
	}
	return t, nil
}

func (m *iptMasq) restore(ctx context.Context, f Family, input string) error {
	if err := m.r.Restore(ctx, f, input); err != nil {
		return fmt.Errorf("write nat table: %w", err)
	}
	return nil
}
