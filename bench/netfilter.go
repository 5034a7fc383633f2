package bench

import (
	"regexp"
	"strings"
)

// Netfilter is a namespace's netfilter state as the tools print it.
type Netfilter struct {
	IPTables, IP6Tables, NFT string
}

// readNetfilter dumps iptables-save, ip6tables-save and `nft list ruleset`
// inside the namespace.
func readNetfilter(n *NetNS) (Netfilter, error) {
	var nf Netfilter
	var err error
	if nf.IPTables, err = n.Exec("iptables-save"); err != nil {
		return nf, err
	}
	if nf.IP6Tables, err = n.Exec("ip6tables-save"); err != nil {
		return nf, err
	}
	if nf.NFT, err = n.Exec("nft", "list", "ruleset"); err != nil {
		return nf, err
	}
	return nf, nil
}

var (
	countersRe  = regexp.MustCompile(`\[\d+:\d+\]`)
	nftCountRe  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	nftHandleRe = regexp.MustCompile(` # handle \d+`)
)

// Lines returns the state as comparable lines: comments, counters and
// handles dropped. Two dumps have equal lines exactly when no rule, chain,
// table, set or map differs.
func (nf Netfilter) Lines() []string {
	var out []string
	for _, dump := range []string{nf.IPTables, nf.IP6Tables} {
		for _, l := range strings.Split(dump, "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			out = append(out, "iptables: "+countersRe.ReplaceAllString(l, "[-]"))
		}
	}
	for _, l := range strings.Split(nf.NFT, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		l = nftCountRe.ReplaceAllString(l, "counter")
		out = append(out, "nft: "+nftHandleRe.ReplaceAllString(l, ""))
	}
	return out
}

// xtTables are the tables iptables-nft keeps in nftables; `nft list ruleset`
// shows them too, so they are counted once, from iptables-save.
var xtTables = map[string]bool{
	"ip filter": true, "ip nat": true, "ip mangle": true, "ip raw": true, "ip security": true,
	"ip6 filter": true, "ip6 nat": true, "ip6 mangle": true, "ip6 raw": true, "ip6 security": true,
}

// Count is the netfilter line count of the node: non-empty, non-comment
// lines of iptables-save and ip6tables-save, plus those of `nft list
// ruleset` outside the tables iptables-nft manages (when xtInNFT says
// iptables is the nf_tables variant), so nothing is counted twice.
func (nf Netfilter) Count(xtInNFT bool) int { return nf.count(xtInNFT, true) }

// CountWithoutElements is Count without the lines of nftables set and map
// elements: the rules, chains, sets and maps themselves. nft prints every
// element of a map with a concatenated key on a line of its own, so Count
// grows with each pod's entries even where no rule is added per pod.
func (nf Netfilter) CountWithoutElements(xtInNFT bool) int { return nf.count(xtInNFT, false) }

func (nf Netfilter) count(xtInNFT, elements bool) int {
	n := 0
	for _, dump := range []string{nf.IPTables, nf.IP6Tables} {
		for _, l := range strings.Split(dump, "\n") {
			if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "#") {
				n++
			}
		}
	}
	skip, inElements := false, false
	for _, l := range strings.Split(nf.NFT, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if strings.HasPrefix(l, "table ") {
			name := strings.TrimSuffix(strings.TrimPrefix(t, "table "), " {")
			skip = xtInNFT && xtTables[name]
		}
		if strings.HasPrefix(t, "elements = {") {
			inElements = true
		}
		if !skip && (elements || !inElements) {
			n++
		}
		if inElements && strings.HasSuffix(t, "}") {
			inElements = false
		}
		if l == "}" {
			skip = false
		}
	}
	return n
}
