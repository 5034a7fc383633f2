package netfilter

import (
	"context"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"sigs.k8s.io/knftables"
)

// The reference bridge plugin (containernetworking/plugins) masquerades
// per attachment, and a node whose bridge binary was replaced by podnet's
// keeps that state for the pods the reference added:
//
//   - iptables (its default): in nat, a chain CNI-<hash of network and
//     container ID> per attachment and a POSTROUTING jump to it per pod
//     address, every rule with the comment `name: "<net>" id: "<cid>"`;
//   - nftables: in table inet cni_plugins_masquerade, chain masq_checks, a
//     rule per pod address whose comment starts with
//     "<hash of network>-<hash of ifname:cid>".
//
// podnet's DEL does not look for it: that would cost a netfilter read on
// every DEL for state that only an upgrade leaves. GC removes it for the
// attachments that are no longer valid, as the reference's own GC would
// (its iptables half is a no-op).

// refNFTTable and refNFTChain are where the reference's nftables backend
// keeps its rules.
const (
	refNFTTable = "cni_plugins_masquerade"
	refNFTChain = "masq_checks"
)

// parseRefIPTComment splits the reference's iptables comment, `name: "<net>"
// id: "<cid>"` with both parts Go-quoted (its utils.FormatComment). No
// regexp: a package-level one would be compiled at every plugin start.
func parseRefIPTComment(c string) (network, id string, ok bool) {
	rest, ok := strings.CutPrefix(c, "name: ")
	if !ok {
		return "", "", false
	}
	q1, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return "", "", false
	}
	q2, ok := strings.CutPrefix(rest[len(q1):], " id: ")
	if !ok {
		return "", "", false
	}
	network, err1 := strconv.Unquote(q1)
	id, err2 := strconv.Unquote(q2)
	return network, id, err1 == nil && err2 == nil
}

// refHash is the reference's utils.MustFormatHashWithPrefix: prefix, then
// the hex SHA-512 of s, cut to n characters.
func refHash(n int, prefix, s string) string {
	sum := sha512.Sum512([]byte(s))
	return (prefix + hex.EncodeToString(sum[:]))[:n]
}

// refIPTChain is the reference's masquerade chain of an attachment (its
// utils.FormatChainName): 28 characters, "CNI-" and the hash.
func refIPTChain(network, containerID string) string {
	return refHash(28, "CNI-", network+containerID)
}

// GCReferenceMasquerade removes the masquerade rules the reference bridge
// plugin left for network's attachments that are not in valid, in both
// iptables families and in nftables. A backend whose tools are missing has
// nothing to remove. It carries on past errors and reports them all.
func GCReferenceMasquerade(ctx context.Context, network string, valid []types.GCAttachment) error {
	var errs []error
	for _, f := range []Family{IPv4, IPv6} {
		errs = append(errs, gcReferenceIPT(ctx, ExecRestorer{}, f, network, valid))
	}
	if nft, err := knftables.New(knftables.InetFamily, refNFTTable); err == nil {
		errs = append(errs, gcReferenceNFT(ctx, nft, network, valid))
	}
	return errors.Join(errs...)
}

// gcReferenceIPT removes one family's reference chains of stale
// attachments: one iptables-save, and one iptables-restore when there is
// something to remove.
func gcReferenceIPT(ctx context.Context, r Restorer, f Family, network string, valid []types.GCAttachment) error {
	out, err := r.Save(ctx, f, "nat")
	if errors.Is(err, exec.ErrNotFound) {
		return nil // no iptables here, so nothing of the reference's either
	}
	if err != nil {
		return fmt.Errorf("remove the reference plugin's masquerade chains of %q: read nat table: %w", network, err)
	}
	t, err := parseIPTSave(out)
	if err != nil {
		return fmt.Errorf("remove the reference plugin's masquerade chains of %q: read nat table: %w", network, err)
	}
	input := planReferenceIPTDelete(t, network, valid)
	if input == "" {
		return nil
	}
	if err := r.Restore(ctx, f, input); err != nil {
		return fmt.Errorf("remove the reference plugin's masquerade chains of %q: %w", network, err)
	}
	return nil
}

// refIPTOwner returns the container ID of a rule the reference added for
// network, and that attachment's chain, judged by the rule's comment and,
// for POSTROUTING jumps, its target: the chain named after the network and
// that ID. ok is false for any other rule.
func refIPTOwner(r iptRule, network string) (id, chain string, ok bool) {
	name, id, ok := parseRefIPTComment(r.opt("--comment"))
	if !ok || name != network {
		return "", "", false
	}
	chain = refIPTChain(network, id)
	if r.chain == "POSTROUTING" && r.opt("-j") != chain || r.chain != "POSTROUTING" && r.chain != chain {
		return "", "", false
	}
	return id, chain, true
}

// planReferenceIPTDelete builds the iptables-restore input that removes the
// reference's POSTROUTING jumps and chains of network whose container ID is
// not in valid; "" when there are none.
func planReferenceIPTDelete(t *iptSaved, network string, valid []types.GCAttachment) string {
	keep := map[string]bool{}
	for _, a := range valid {
		keep[a.ContainerID] = true
	}
	var b strings.Builder
	stale := map[string]bool{} // chain names
	for _, r := range t.rules {
		id, chain, ok := refIPTOwner(r, network)
		if !ok || keep[id] {
			continue
		}
		stale[chain] = true
		if r.chain == "POSTROUTING" {
			fmt.Fprintf(&b, "-D POSTROUTING %s\n", r.spec)
		}
	}
	chains := make([]string, 0, len(stale))
	for c := range stale {
		if t.chains[c] {
			chains = append(chains, c)
		}
	}
	sort.Strings(chains)
	for _, c := range chains {
		fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", c, c)
	}
	if b.Len() == 0 {
		return ""
	}
	return "*nat\n" + b.String() + "COMMIT\n"
}

// refNFTInstance is the part of a reference nftables rule comment that
// names the attachment: "<hash of network>-<hash of ifname:cid>".
func refNFTInstance(network, ifname, containerID string) string {
	return refHash(16, "", network) + "-" + refHash(16, "", ifname+":"+containerID)
}

// gcReferenceNFT removes the reference's masq_checks rules of network whose
// attachment is not in valid, in one transaction. The table and its chains
// stay: the reference never removes them either, and they hold no pod's
// state once the rules are gone.
func gcReferenceNFT(ctx context.Context, nft knftables.Interface, network string, valid []types.GCAttachment) error {
	rules, err := nft.ListRules(ctx, refNFTChain)
	if knftables.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove the reference plugin's masquerade rules of %q: list inet %s %s: %w", network, refNFTTable, refNFTChain, err)
	}
	keep := map[string]bool{}
	for _, a := range valid {
		keep[refNFTInstance(network, a.IfName, a.ContainerID)] = true
	}
	prefix := refHash(16, "", network) + "-"
	tx := nft.NewTransaction()
	for _, r := range rules {
		if r.Comment == nil || !strings.HasPrefix(*r.Comment, prefix) || len(*r.Comment) < len(prefix)+16 {
			continue
		}
		if !keep[(*r.Comment)[:len(prefix)+16]] {
			tx.Delete(&knftables.Rule{Chain: refNFTChain, Handle: r.Handle})
		}
	}
	if tx.NumOperations() == 0 {
		return nil
	}
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("remove the reference plugin's masquerade rules of %q from inet %s %s: %w", network, refNFTTable, refNFTChain, err)
	}
	return nil
}
