package netfilter

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// The nftables layout of host ports: one inet table with a fixed set of
// chains, and per-pod state only as map and set elements commented with the
// owner's Tag. An ADD or DEL adds or removes elements in one transaction;
// the rule count never depends on the number of pods.
//
//	prerouting, output (nat, dstnat): fib daddr type local jump hostports
//	hostports: conditioned keys goto cond<f>_<hash>; then
//	           dnat to (daddr . proto . port) or (proto . port) from the maps
//	cond<f>_<hash>: <conditions> dnat ... (one chain per distinct condition
//	           list, shared by every pod configured with it)
//	postrouting (nat, srcnat): masquerade hairpin / localhost / masqAll
//	           traffic listed in masq4/masq6 as podIP . proto . podPort . saddr
//	input (filter): drop new connections to 127.0.0.0/8 arriving on an
//	           interface whose route_localnet we turned on (CVE-2020-8558)
//
// The map "owners" has one element per attachment with host ports: the
// first 128 bits of the SHA-256 of its tag, written as an IPv6 address
// (nftables has no string-keyed set), mapped to the number of its other
// elements. One lookup of it tells ADD whether the attachment has elements
// already, and DEL whether the lookups by key found all of them, without
// reading the sets.
const (
	hpNFTTable      = "podnet-hostport"
	hpChainHostport = "hostports"
	hpSetLocalnet   = "localnet"
	hpSetOwners     = "owners"
	hpLocalnetNote  = "podnet: route_localnet turned on by portmap"
	hpCondPrefix4   = "cond4_"
	hpCondPrefix6   = "cond6_"
)

// hpFam holds the per-family words of the nftables rules.
type hpFam struct {
	v6                    bool
	ip, addr, nfproto, sf string
}

func hpFamily(v6 bool) hpFam {
	if v6 {
		return hpFam{v6: true, ip: "ip6", addr: "ipv6_addr", nfproto: "ipv6", sf: "6"}
	}
	return hpFam{ip: "ip", addr: "ipv4_addr", nfproto: "ipv4", sf: "4"}
}

// dnatMap names the map from (daddr . proto . port), or from (proto . port)
// when any is set, to (podIP . podPort).
func (f hpFam) dnatMap(any bool) string { return "dnat" + f.sf + hpKind(any) }

// condMap names the verdict map sending conditioned keys to their chain.
func (f hpFam) condMap(any bool) string { return "cond" + f.sf + hpKind(any) }

// hairpinSet names the set of (podIP . proto . podPort . podIP): a pod
// reaching itself through a node address.
func (f hpFam) hairpinSet() string { return "hairpin" + f.sf }

// masqAllSet names the set of (podIP . proto . podPort) masqueraded
// whatever the source (masqAll).
func (f hpFam) masqAllSet() string { return "masqall" + f.sf }

// hpSetLocalhost is the set of (podIP . proto . podPort) reachable from the
// node's 127.0.0.1, masqueraded (IPv4 only).
const hpSetLocalhost = "localhost4"

func hpKind(any bool) string {
	if any {
		return "_any"
	}
	return "_addr"
}

// dnatRules are the two DNAT rules of a family, behind optional conditions.
func (f hpFam) dnatRules(conds string) []hpNFTRule {
	return []hpNFTRule{
		{conds + "dnat " + f.ip + " to " + f.ip + " daddr . meta l4proto . th dport map @" + f.dnatMap(false),
			"podnet: dnat" + f.sf + " by address"},
		{"meta nfproto " + f.nfproto + " " + conds + "dnat " + f.ip + " to meta l4proto . th dport map @" + f.dnatMap(true),
			"podnet: dnat" + f.sf + " any address"},
	}
}

// hpNFTRule is a rule and the comment that identifies it (and its version:
// a changed rule gets a changed comment, so ADD rewrites the chain).
type hpNFTRule struct{ rule, comment string }

// hpNFTChain is a chain and its complete rule list.
type hpNFTChain struct {
	chain knftables.Chain
	rules []hpNFTRule
}

// comments returns the rule comments, the chain's fingerprint.
func (c *hpNFTChain) comments() []string {
	out := make([]string, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.comment
	}
	return out
}

// hpNFTContainers are the table's maps and sets.
func hpNFTContainers() []knftables.Object {
	var objs []knftables.Object
	for _, v6 := range []bool{false, true} {
		f := hpFamily(v6)
		objs = append(objs,
			&knftables.Map{Name: f.dnatMap(false), Type: f.addr + " . inet_proto . inet_service : " + f.addr + " . inet_service"},
			&knftables.Map{Name: f.dnatMap(true), Type: "inet_proto . inet_service : " + f.addr + " . inet_service"},
			&knftables.Map{Name: f.condMap(false), Type: f.addr + " . inet_proto . inet_service : verdict"},
			&knftables.Map{Name: f.condMap(true), Type: "inet_proto . inet_service : verdict"},
			&knftables.Set{Name: f.hairpinSet(), Type: f.addr + " . inet_proto . inet_service . " + f.addr},
			&knftables.Set{Name: f.masqAllSet(), Type: f.addr + " . inet_proto . inet_service"},
		)
	}
	objs = append(objs, &knftables.Set{Name: hpSetLocalhost, Type: "ipv4_addr . inet_proto . inet_service"})
	return append(objs, &knftables.Set{Name: hpSetLocalnet, Type: "ifname"}, &knftables.Map{Name: hpSetOwners, Type: "ipv6_addr : inet_service"})
}

// hpNFTFixedChains are the chains every node with host ports has.
func hpNFTFixedChains() []hpNFTChain {
	base := func(name string, t knftables.BaseChainType, h knftables.BaseChainHook, p knftables.BaseChainPriority) knftables.Chain {
		return knftables.Chain{Name: name, Type: &t, Hook: &h, Priority: &p}
	}
	hostports := hpNFTChain{chain: knftables.Chain{Name: hpChainHostport}}
	var masq []hpNFTRule
	for _, v6 := range []bool{false, true} {
		f := hpFamily(v6)
		hostports.rules = append(hostports.rules,
			hpNFTRule{f.ip + " daddr . meta l4proto . th dport vmap @" + f.condMap(false), "podnet: conditions" + f.sf + " by address"},
			hpNFTRule{"meta nfproto " + f.nfproto + " meta l4proto . th dport vmap @" + f.condMap(true), "podnet: conditions" + f.sf + " any address"})
		masq = append(masq,
			hpNFTRule{"ct status dnat " + f.ip + " daddr . meta l4proto . th dport . " + f.ip + " saddr @" + f.hairpinSet() + " masquerade",
				"podnet: masquerade hairpin" + f.sf},
			hpNFTRule{"ct status dnat " + f.ip + " daddr . meta l4proto . th dport @" + f.masqAllSet() + " masquerade",
				"podnet: masquerade all" + f.sf})
		if !v6 {
			masq = append(masq, hpNFTRule{"ct status dnat ip saddr 127.0.0.0/8 ip daddr . meta l4proto . th dport @" + hpSetLocalhost + " masquerade",
				"podnet: masquerade localhost4"})
		}
	}
	for _, v6 := range []bool{false, true} {
		hostports.rules = append(hostports.rules, hpFamily(v6).dnatRules("")...)
	}
	toLocal := []hpNFTRule{{"fib daddr type local jump " + hpChainHostport, "podnet: traffic to node addresses"}}
	return []hpNFTChain{
		hostports,
		// "dstnat" is not a valid priority name in the output hook for nft
		// before 1.0.7; -100 is its value.
		{chain: base("prerouting", knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority), rules: toLocal},
		{chain: base("output", knftables.NATType, knftables.OutputHook, "-100"), rules: toLocal},
		{chain: base("postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority), rules: masq},
		{chain: base("input", knftables.FilterType, knftables.InputHook, knftables.FilterPriority), rules: []hpNFTRule{{
			"iifname @" + hpSetLocalnet + " ip daddr 127.0.0.0/8 ct state & (established|related) == 0 ct status & dnat == 0 drop",
			"podnet: drop martian 127.0.0.0/8 (CVE-2020-8558)"}}},
	}
}

// hpCondChainName names the chain of one family's condition list.
func hpCondChainName(v6 bool, conds []string) string {
	sum := sha256.Sum256([]byte(strings.Join(conds, "\x00")))
	prefix := hpCondPrefix4
	if v6 {
		prefix = hpCondPrefix6
	}
	return prefix + hex.EncodeToString(sum[:6])
}

// hpNFTCondChain is the chain applying conds before DNAT.
func hpNFTCondChain(v6 bool, conds []string) hpNFTChain {
	return hpNFTChain{
		chain: knftables.Chain{Name: hpCondChainName(v6, conds)},
		rules: hpFamily(v6).dnatRules(strings.Join(conds, " ") + " "),
	}
}

// hpNFTElem is one planned element and the mapping it implements.
type hpNFTElem struct {
	el *knftables.Element
	m  HostPort
}

// hpNFTElements returns the elements that implement spec's mappings, each
// commented with the owner's tag, and the condition chains they jump to.
func hpNFTElements(spec *HostPortSpec) ([]hpNFTElem, []hpNFTChain) {
	tag := spec.Owner.Tag()
	var els []hpNFTElem
	var chains []hpNFTChain
	seen := map[string]bool{}
	add := func(e *knftables.Element, m HostPort) {
		if k := hpElemID(e); !seen[k] {
			seen[k] = true
			e.Comment = &tag
			els = append(els, hpNFTElem{el: e, m: m})
		}
	}
	for _, v6 := range []bool{false, true} {
		conds := spec.conditions(v6)
		if len(conds) > 0 && hpHasFamily(spec, v6) {
			chains = append(chains, hpNFTCondChain(v6, conds))
		}
	}
	for _, m := range spec.Mappings {
		f := hpFamily(m.IsIPv6())
		key := []string{m.Protocol, strconv.Itoa(int(m.HostPort))}
		if !m.AnyHost() {
			key = append([]string{m.HostIP.String()}, key...)
		}
		add(&knftables.Element{Map: f.dnatMap(m.AnyHost()), Key: key, Value: []string{m.PodIP.String(), strconv.Itoa(int(m.PodPort))}}, m)
		if conds := spec.conditions(f.v6); len(conds) > 0 {
			add(&knftables.Element{Map: f.condMap(m.AnyHost()), Key: key, Value: []string{"goto " + hpCondChainName(f.v6, conds)}}, m)
		}
		for _, e := range hpMasqElements(spec, m) {
			add(e, m)
		}
	}
	if len(spec.Mappings) > 0 {
		add(hpOwnerMarker(tag, len(els)), HostPort{})
	}
	return els, chains
}

// hpOwnerMarker is the owner's element in the owners map, with the number
// of its other elements (commented with the tag, like all of them). A
// count of 0 makes a key for lookups.
func hpOwnerMarker(tag string, count int) *knftables.Element {
	sum := sha256.Sum256([]byte(tag))
	e := &knftables.Element{Map: hpSetOwners, Key: []string{netip.AddrFrom16([16]byte(sum[:16])).String()}, Comment: &tag}
	if count > 0 {
		e.Value = []string{strconv.Itoa(count)}
	}
	return e
}

// hpMasqElements are the masquerade elements of a mapping: the pod itself
// (hairpin) and, for IPv4, localhost; or every source with masqAll; or
// none without snat. All are exact keys in hash sets: ranges would make
// the kernel use pipapo sets, which copy their whole lookup table on every
// change, a cost that grows with the pods.
func hpMasqElements(spec *HostPortSpec, m HostPort) []*knftables.Element {
	if !spec.SNAT {
		return nil
	}
	f := hpFamily(m.IsIPv6())
	dst := []string{m.PodIP.String(), m.Protocol, strconv.Itoa(int(m.PodPort))}
	if spec.MasqAll {
		return []*knftables.Element{{Set: f.masqAllSet(), Key: dst}}
	}
	out := []*knftables.Element{{Set: f.hairpinSet(), Key: append(append([]string{}, dst...), m.PodIP.String())}}
	if !f.v6 {
		out = append(out, &knftables.Element{Set: hpSetLocalhost, Key: dst})
	}
	return out
}

// hpMasqCandidates are every masquerade element a DNAT target may have,
// whatever the options it was added with.
func hpMasqCandidates(m HostPort) []*knftables.Element {
	snat := HostPortSpec{SNAT: true}
	all := HostPortSpec{SNAT: true, MasqAll: true}
	return append(hpMasqElements(&snat, m), hpMasqElements(&all, m)...)
}

func hpHasFamily(spec *HostPortSpec, v6 bool) bool {
	v4s, v6s := spec.families()
	return (v6 && v6s) || (!v6 && v4s)
}

// hpElemID identifies an element within the table: container name and key.
func hpElemID(e *knftables.Element) string {
	return e.Set + e.Map + " " + strings.Join(e.Key, " . ")
}

// hpElemValue is an element's value as one string ("" for set elements).
func hpElemValue(e *knftables.Element) string { return strings.Join(e.Value, " . ") }

// hpElemOwner is the tag an element is commented with ("" if none).
func hpElemOwner(e *knftables.Element) string {
	if e.Comment == nil {
		return ""
	}
	return *e.Comment
}

// hpNFTState is what ADD, CHECK, DEL and GC read from the kernel: one
// snapshot of the table.
type hpNFTState struct {
	// Exists is false when the table is absent; everything else is empty.
	Exists bool
	// Elements by set or map name; every existing set and map has an
	// entry, maybe empty.
	Elements map[string][]*knftables.Element
	// Rules holds every chain's rule comments, in order.
	Rules map[string][]string
}

// ownedBy returns the elements commented with tag, sorted for a stable
// transaction.
func (st *hpNFTState) ownedBy(match func(tag string) bool) []*knftables.Element {
	var out []*knftables.Element
	for _, name := range hpSortedKeys(st.Elements) {
		for _, e := range st.Elements[name] {
			if match(hpElemOwner(e)) {
				out = append(out, e)
			}
		}
	}
	return out
}

// find returns the element with e's container and key, or nil.
func (st *hpNFTState) find(e *knftables.Element) *knftables.Element {
	for _, x := range st.Elements[e.Set+e.Map] {
		if hpElemID(x) == hpElemID(e) {
			return x
		}
	}
	return nil
}

// hasContainer reports whether the set or map o exists.
func (st *hpNFTState) hasContainer(o knftables.Object) bool {
	var name string
	switch c := o.(type) {
	case *knftables.Set:
		name = c.Name
	case *knftables.Map:
		name = c.Name
	}
	_, ok := st.Elements[name]
	return ok
}

// chainMatches reports whether a chain exists with exactly c's rules.
func (st *hpNFTState) chainMatches(c *hpNFTChain) bool {
	got, ok := st.Rules[c.chain.Name]
	return ok && strings.Join(got, "\n") == strings.Join(c.comments(), "\n")
}

func hpSortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
