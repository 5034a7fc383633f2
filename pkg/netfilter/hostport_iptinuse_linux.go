package netfilter

import (
	"os"
	"strings"

	gnft "github.com/google/nftables"
)

// hpProcNet is the thread's own /proc/net: /proc/net follows the process
// (its first thread), which is not the namespace a test's ns.Do runs in.
const hpProcNet = "/proc/thread-self/net"

// hpIPTablesMaybeInUse reports whether iptables may hold host-port rules in
// a family, without running iptables-save: a legacy nat table is loaded
// (/proc/net/ip_tables_names), or iptables-nft's nat table has a
// CNI-HOSTPORT-DNAT or CNI-DN- chain. DEL and GC skip a family where it is
// false, which saves two execs per DEL on a node that uses nftables.
func hpIPTablesMaybeInUse(f Family) bool {
	names, fam := "ip_tables_names", gnft.TableFamilyIPv4
	if f == IPv6 {
		names, fam = "ip6_tables_names", gnft.TableFamilyIPv6
	}
	if b, err := os.ReadFile(hpProcNet + "/" + names); err != nil || hpHasLine(string(b), "nat") {
		return true // unreadable: assume it may be
	}
	c, err := gnft.New()
	if err != nil {
		return true
	}
	chains, err := c.ListChainsOfTableFamily(fam)
	if err != nil {
		return !hpNoNFTables(err)
	}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == "nat" && (ch.Name == hpIPTDNAT || strings.HasPrefix(ch.Name, hpIPTPodPrefix)) {
			return true
		}
	}
	return false
}

func hpHasLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
