package netfilter

import (
	"context"
	"net/netip"
)

// Masquerader manages source NAT for traffic leaving pod networks, with a
// fixed set of rules per owner (a network), never per pod: adding or
// removing a pod changes no netfilter state.
//
// An owner is a stable key such as the CNI network name ("mynet") or
// "vxlan:<network>"; it is recorded with the rules (comment or chain name)
// so DeleteMasquerade needs nothing but the owner.
//
// The rules masquerade traffic whose source lies in one of the owner's
// subnets and whose destination lies in none of them, except multicast
// (224.0.0.0/4, ff00::/8). Traffic within the subnets is never masqueraded.
// A subnet belongs to one owner: one overlapping another owner's subnet is
// refused.
//
// NewMasquerader returns the nftables or the iptables implementation
// (masq_nftables.go, masq_iptables.go, which describe their objects);
// FakeMasquerader is the in-memory one for the tests of its users. Every
// method is safe to call from concurrent processes.
type Masquerader interface {
	// EnsureMasquerade makes the owner's rules cover subnets (in addition to
	// any subnets it already covers). It reads the current state first and
	// writes nothing when the rules are already in place; otherwise it
	// writes in one transaction per backend family.
	EnsureMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error
	// CheckMasquerade returns an error naming what is missing when the
	// owner's rules do not cover every subnet in subnets.
	CheckMasquerade(ctx context.Context, owner string, subnets []netip.Prefix) error
	// DeleteMasquerade removes every rule of the owner; the inverse of
	// EnsureMasquerade. Rules already gone, or a backend that was never
	// used, are not an error. It removes podnet's shared tables or chains
	// when no owner is left in them.
	DeleteMasquerade(ctx context.Context, owner string) error
}
