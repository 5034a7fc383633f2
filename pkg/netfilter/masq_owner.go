package netfilter

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Multicast destinations are never masqueraded.
var (
	multicastV4 = netip.MustParsePrefix("224.0.0.0/4")
	multicastV6 = netip.MustParsePrefix("ff00::/8")
)

// ownerHash is the hex SHA-256 of an owner, the part of object names that
// keeps two owners apart whatever their spelling.
func ownerHash(owner string) string {
	sum := sha256.Sum256([]byte(owner))
	return hex.EncodeToString(sum[:])
}

// ownerSlug is a short, readable and unique name fragment for an owner: up
// to 24 of its characters that are safe in nft identifiers, then 8 hex
// digits of its hash ("mynet-1a2b3c4d", "vxlan_net-0b1c2d3e").
func ownerSlug(owner string) string {
	var b strings.Builder
	for _, r := range owner {
		if b.Len() == 24 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String() + "-" + ownerHash(owner)[:8]
}

// validateOwner refuses an empty owner: it would name nothing.
func validateOwner(owner string) error {
	if owner == "" {
		return fmt.Errorf("masquerade owner is empty")
	}
	return nil
}

// normSubnets masks each prefix, drops invalid and duplicate ones, and sorts
// them: the canonical form every backend stores and compares.
func normSubnets(subnets []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range subnets {
		if !p.IsValid() {
			continue
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96).Masked()
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePrefix)
	return out
}

// comparePrefix orders prefixes by address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// splitFamilies returns the IPv4 and the IPv6 prefixes of subnets.
func splitFamilies(subnets []netip.Prefix) (v4, v6 []netip.Prefix) {
	for _, p := range subnets {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

// parsePrefix reads a prefix as the tools print it; a bare address is a
// host prefix.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// checkOverlap refuses a subnet that overlaps one masqueraded for another
// owner (taken maps each subnet to its owner's target): a subnet belongs
// to one owner, or the first match would silently win.
func checkOverlap(p netip.Prefix, taken map[netip.Prefix]string, ours string) error {
	for q, target := range taken {
		if target != ours && q.Overlaps(p) {
			return fmt.Errorf("subnet %s overlaps %s, already masqueraded by another owner (%s)", p, q, target)
		}
	}
	return nil
}
