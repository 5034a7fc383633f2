package netfilter

import (
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// The iptables layout of host ports keeps the reference plugin's chain
// names, so a node upgraded from it is cleaned by our DEL and GC:
//
//	nat PREROUTING, OUTPUT: -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//	nat CNI-HOSTPORT-DNAT: per pod, "-m multiport --dports ... -j CNI-DN-<hash>"
//	    commented "podnet hostport <tag>", inserted first (newest pod wins)
//	nat CNI-DN-<hash>: per mapping, mark hairpin/localhost, then DNAT
//	nat CNI-HOSTPORT-SETMARK / CNI-HOSTPORT-MASQ (POSTROUTING, first rule):
//	    mark and masquerade
//	filter CNI-HOSTPORT-LOCALNET (INPUT, first rule): drop new connections
//	    to 127.0.0.0/8 from interfaces whose route_localnet we turned on
//
// Every rule is written in the exact form iptables-save prints, so CHECK
// compares strings.
const (
	hpIPTDNAT       = "CNI-HOSTPORT-DNAT"
	hpIPTSetMark    = "CNI-HOSTPORT-SETMARK"
	hpIPTMasq       = "CNI-HOSTPORT-MASQ"
	hpIPTLocalnet   = "CNI-HOSTPORT-LOCALNET"
	hpIPTPodPrefix  = "CNI-DN-"
	hpIPTJumpNote   = "podnet hostport "
	hpIPTLocalRule  = "-m addrtype --dst-type LOCAL -j " + hpIPTDNAT
	hpIPTMasqJump   = `-m comment --comment "CNI portfwd requiring masquerade" -j ` + hpIPTMasq
	hpIPTInputJump  = `-m comment --comment "podnet: martian 127.0.0.0/8 drop" -j ` + hpIPTLocalnet
	hpIPTMultiportN = 15 // ports per multiport match
)

// hpIPTPodChain names the owner's chain: CNI-DN- and 21 hex digits of the
// SHA-512 of its tag.
func hpIPTPodChain(o HostPortOwner) string {
	sum := sha512.Sum512([]byte(o.Tag()))
	return hpIPTPodPrefix + hex.EncodeToString(sum[:])[:21]
}

// hpIPTLegacyChain names the chain the reference plugin makes for a
// (network, container) pair; DEL and GC remove it too.
func hpIPTLegacyChain(network, containerID string) string {
	sum := sha512.Sum512([]byte(network + containerID))
	return hpIPTPodPrefix + hex.EncodeToString(sum[:])[:21]
}

// hpIPTLegacyNote is the reference plugin's comment on its jump rules.
func hpIPTLegacyNote(network, containerID string) string {
	return fmt.Sprintf(`dnat name: "%s" id: "%s"`, network, containerID)
}

// hpMarkSpec is the mark value/mask of a mark bit, e.g. 0x2000/0x2000.
func hpMarkSpec(bit int) string {
	v := uint32(1) << uint(bit)
	return fmt.Sprintf("%#x/%#x", v, v)
}

func hpIPTSetMarkRule(bit int) string {
	return `-m comment --comment "CNI portfwd masquerade mark" -j MARK --set-xmark ` + hpMarkSpec(bit)
}

func hpIPTMasqRule(bit int) string {
	return "-m mark --mark " + hpMarkSpec(bit) + " -j MASQUERADE"
}

func hpIPTLocalnetRule(iface string) string {
	return "-d 127.0.0.0/8 -i " + iface + ` -m comment --comment "podnet: route_localnet on ` + iface +
		`" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`
}

// hpHostBits is an address as iptables-save prints it: with /32 or /128.
func hpHostBits(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

// hpFamilyMappings are spec's mappings of one family.
func hpFamilyMappings(spec *HostPortSpec, v6 bool) []HostPort {
	var out []HostPort
	for _, m := range spec.Mappings {
		if m.IsIPv6() == v6 {
			out = append(out, m)
		}
	}
	return out
}

// hpIPTPodRules are the rules of the owner's chain in one family.
func hpIPTPodRules(spec *HostPortSpec, v6 bool) []string {
	setMark := hpIPTSetMark
	if spec.ExternalSetMarkChain != "" {
		setMark = spec.ExternalSetMarkChain
	}
	var rules []string
	for _, m := range hpFamilyMappings(spec, v6) {
		dst := ""
		if !m.AnyHost() {
			dst = "-d " + hpHostBits(m.HostIP) + " "
		}
		match := dst + "-p " + m.Protocol + " -m " + m.Protocol + " --dport " + strconv.Itoa(int(m.HostPort))
		if spec.SNAT {
			if spec.MasqAll {
				rules = append(rules, match+" -j "+setMark)
			} else {
				rules = append(rules, "-s "+hpHostBits(m.PodIP)+" "+match+" -j "+setMark)
			}
			if !v6 && !spec.MasqAll {
				rules = append(rules, "-s 127.0.0.0/8 "+match+" -j "+setMark)
			}
		}
		rules = append(rules, match+" -j DNAT --to-destination "+netip.AddrPortFrom(m.PodIP, m.PodPort).String())
	}
	return rules
}

// hpIPTJumps are the owner's rules in CNI-HOSTPORT-DNAT in one family: per
// protocol, up to 15 host ports each, then the family's conditions.
func hpIPTJumps(spec *HostPortSpec, v6 bool) []string {
	ports := map[string][]string{}
	seen := map[string]bool{}
	for _, m := range hpFamilyMappings(spec, v6) {
		p := strconv.Itoa(int(m.HostPort))
		if !seen[m.Protocol+p] {
			seen[m.Protocol+p] = true
			ports[m.Protocol] = append(ports[m.Protocol], p)
		}
	}
	conds := ""
	for _, c := range spec.conditions(v6) {
		conds += hpQuoteArg(c) + " "
	}
	protos := make([]string, 0, len(ports))
	for p := range ports {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	var out []string
	for _, proto := range protos {
		list := ports[proto]
		for len(list) > 0 {
			n := min(len(list), hpIPTMultiportN)
			out = append(out, "-p "+proto+` -m comment --comment "`+hpIPTJumpNote+spec.Owner.Tag()+`" -m multiport --dports `+
				strings.Join(list[:n], ",")+" "+conds+"-j "+hpIPTPodChain(spec.Owner))
			list = list[n:]
		}
	}
	return out
}

// hpQuoteArg quotes a condition token for iptables-restore when needed.
func hpQuoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// hpIPTAddInput is the iptables-restore input of an ADD in one family: the
// mark and masquerade chains (ours, rewritten whole), the owner's chain
// (created or flushed, then filled), its jumps inserted first in
// CNI-HOSTPORT-DNAT, and, when localnet is set, the interface's drop rule.
// It needs the scaffolding (hpIPTScaffoldInput) to exist.
func hpIPTAddInput(spec *HostPortSpec, v6 bool, localnet string) string {
	var b strings.Builder
	b.WriteString("*nat\n")
	if spec.SNAT && spec.ExternalSetMarkChain == "" {
		fmt.Fprintf(&b, ":%s - [0:0]\n-A %s %s\n", hpIPTSetMark, hpIPTSetMark, hpIPTSetMarkRule(spec.MarkMasqBit))
		fmt.Fprintf(&b, ":%s - [0:0]\n-A %s %s\n", hpIPTMasq, hpIPTMasq, hpIPTMasqRule(spec.MarkMasqBit))
	}
	chain := hpIPTPodChain(spec.Owner)
	fmt.Fprintf(&b, ":%s - [0:0]\n", chain)
	for _, r := range hpIPTPodRules(spec, v6) {
		fmt.Fprintf(&b, "-A %s %s\n", chain, r)
	}
	for _, j := range hpIPTJumps(spec, v6) {
		fmt.Fprintf(&b, "-I %s 1 %s\n", hpIPTDNAT, j)
	}
	b.WriteString("COMMIT\n")
	if localnet != "" && !v6 {
		fmt.Fprintf(&b, "*filter\n-A %s %s\nCOMMIT\n", hpIPTLocalnet, hpIPTLocalnetRule(localnet))
	}
	return b.String()
}

// hpIPTScaffoldInput creates what is missing of the node-wide chains and
// jumps, given the saved nat and filter tables; "" when nothing is.
func hpIPTScaffoldInput(nat, filter *hpIPTTable, v6 bool, markBit int) string {
	var n strings.Builder
	declare := func(t *hpIPTTable, chain string, rules ...string) {
		if !t.chains[chain] {
			fmt.Fprintf(&n, ":%s - [0:0]\n", chain)
			for _, r := range rules {
				fmt.Fprintf(&n, "-A %s %s\n", chain, r)
			}
		}
	}
	declare(nat, hpIPTDNAT)
	declare(nat, hpIPTSetMark, hpIPTSetMarkRule(markBit))
	declare(nat, hpIPTMasq, hpIPTMasqRule(markBit))
	for _, c := range []string{"PREROUTING", "OUTPUT"} {
		if !nat.hasRule(c, hpIPTLocalRule) {
			fmt.Fprintf(&n, "-A %s %s\n", c, hpIPTLocalRule)
		}
	}
	if !nat.hasRule("POSTROUTING", hpIPTMasqJump) {
		fmt.Fprintf(&n, "-I POSTROUTING 1 %s\n", hpIPTMasqJump)
	}
	var out string
	if n.Len() > 0 {
		out = "*nat\n" + n.String() + "COMMIT\n"
	}
	if v6 {
		return out
	}
	n.Reset()
	declare(filter, hpIPTLocalnet)
	if !filter.hasRule("INPUT", hpIPTInputJump) {
		fmt.Fprintf(&n, "-I INPUT 1 %s\n", hpIPTInputJump)
	}
	if n.Len() > 0 {
		out += "*filter\n" + n.String() + "COMMIT\n"
	}
	return out
}

// hpIPTDeleteInput removes the owner's jumps and chain, and the reference
// plugin's chain of the same network and container; "" when there is none.
// It returns the mappings the removed chains forwarded.
func hpIPTDeleteInput(nat *hpIPTTable, owner HostPortOwner) (string, []HostPort) {
	targets := map[string]bool{hpIPTPodChain(owner): true, hpIPTLegacyChain(owner.Network, owner.ContainerID): true}
	return hpIPTRemoveChains(nat, targets)
}

// hpIPTRemoveChains deletes the jumps of CNI-HOSTPORT-DNAT to any chain of
// targets, and those chains.
func hpIPTRemoveChains(nat *hpIPTTable, targets map[string]bool) (string, []HostPort) {
	var b strings.Builder
	for _, r := range nat.rules[hpIPTDNAT] {
		if targets[hpIPTTarget(r)] {
			fmt.Fprintf(&b, "-D %s %s\n", hpIPTDNAT, r)
		}
	}
	var removed []HostPort
	for _, c := range hpSortedKeys(targets) {
		if nat.chains[c] {
			fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", c, c)
			removed = append(removed, hpIPTMappings(nat.rules[c])...)
		}
	}
	if b.Len() == 0 {
		return "", nil
	}
	return "*nat\n" + b.String() + "COMMIT\n", removed
}

// hpIPTStale picks the chains GC removes: those whose jump belongs to an
// owner of network not in valid (podnet's tag or the reference's comment),
// and pod chains nothing jumps to. left counts the jumps that stay.
func hpIPTStale(nat *hpIPTTable, network string, valid []HostPortOwner) (targets map[string]bool, left int) {
	keepTag, keepID := map[string]bool{}, map[string]bool{}
	for _, o := range valid {
		keepTag[o.Tag()] = true
		keepID[hpIPTLegacyNote(network, o.ContainerID)] = true
	}
	targets = map[string]bool{}
	referenced := map[string]bool{}
	for _, r := range nat.rules[hpIPTDNAT] {
		note, target := hpIPTComment(r), hpIPTTarget(r)
		tag, ours := strings.CutPrefix(note, hpIPTJumpNote)
		legacy := strings.HasPrefix(note, fmt.Sprintf(`dnat name: "%s" id: `, network))
		if (ours && hpTagOfNetwork(tag, network) && !keepTag[tag]) || (legacy && !keepID[note]) {
			targets[target] = true
			continue
		}
		referenced[target] = true
		left++
	}
	for c := range nat.chains {
		if strings.HasPrefix(c, hpIPTPodPrefix) && !referenced[c] {
			targets[c] = true
		}
	}
	return targets, left
}

// hpIPTScaffoldRemoval removes the node-wide chains and jumps, once no pod
// has host ports left, and returns the interfaces whose route_localnet
// must be turned off first.
func hpIPTScaffoldRemoval(nat, filter *hpIPTTable, v6 bool) (natPart, filterPart string, ifaces []string) {
	var b strings.Builder
	for _, c := range []string{"PREROUTING", "OUTPUT", "POSTROUTING"} {
		for _, r := range nat.rules[c] {
			if t := hpIPTTarget(r); t == hpIPTDNAT || t == hpIPTMasq {
				fmt.Fprintf(&b, "-D %s %s\n", c, r)
			}
		}
	}
	for _, c := range []string{hpIPTDNAT, hpIPTSetMark, hpIPTMasq} {
		if nat.chains[c] {
			fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", c, c)
		}
	}
	natPart = b.String()
	if v6 {
		return natPart, "", nil
	}
	b.Reset()
	for _, r := range filter.rules["INPUT"] {
		if hpIPTTarget(r) == hpIPTLocalnet {
			fmt.Fprintf(&b, "-D INPUT %s\n", r)
		}
	}
	for _, r := range filter.rules[hpIPTLocalnet] {
		if i := hpIPTOpt(r, "-i"); i != "" {
			ifaces = append(ifaces, i)
		}
	}
	if filter.chains[hpIPTLocalnet] {
		fmt.Fprintf(&b, ":%s - [0:0]\n-X %s\n", hpIPTLocalnet, hpIPTLocalnet)
	}
	return natPart, b.String(), ifaces
}

// hpIPTMappings reads the mappings back from a pod chain's DNAT rules.
func hpIPTMappings(rules []string) []HostPort {
	var out []HostPort
	for _, r := range rules {
		if hpIPTTarget(r) != "DNAT" {
			continue
		}
		to, err := netip.ParseAddrPort(hpIPTOpt(r, "--to-destination"))
		port, err2 := strconv.ParseUint(hpIPTOpt(r, "--dport"), 10, 16)
		if err != nil || err2 != nil {
			continue
		}
		m := HostPort{Protocol: hpIPTOpt(r, "-p"), HostPort: uint16(port), PodIP: to.Addr(), PodPort: to.Port()}
		if d, err := netip.ParsePrefix(hpIPTOpt(r, "-d")); err == nil {
			m.HostIP = d.Addr()
		}
		out = append(out, m)
	}
	return out
}
