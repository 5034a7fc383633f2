package testutil

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Links returns `ip -o link` of the namespace, one link a line, with the
// changing parts (ifindex, MAC, qlen, altnames) dropped, sorted by name:
// "cni0 bridge UP mtu 1500", "veth1234@if2 veth UP master cni0 mtu 1500".
func (n *NetNS) Links(t TB) []string {
	t.Helper()
	out := n.MustExec(t, "ip", "-o", "-d", "link", "show")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		lines = append(lines, normLink(l))
	}
	sort.Strings(lines)
	return lines
}

var (
	linkRe   = regexp.MustCompile(`^\d+: ([^:]+): <([^>]*)> mtu (\d+)`)
	masterRe = regexp.MustCompile(` master (\S+)`)
	kindRe   = regexp.MustCompile(`\\\s+(bridge|veth|vxlan|dummy|bridge_slave)\b`)
)

func normLink(l string) string {
	m := linkRe.FindStringSubmatch(l)
	if m == nil {
		return l
	}
	s := m[1]
	for _, k := range kindRe.FindAllStringSubmatch(l, -1) {
		if k[1] != "bridge_slave" {
			s += " " + k[1]
			break
		}
	}
	if strings.Contains(","+m[2]+",", ",UP,") {
		s += " UP"
	}
	if mm := masterRe.FindStringSubmatch(l); mm != nil {
		s += " master " + mm[1]
	}
	return s + " mtu " + m[3]
}

// LinkNames returns the names of the namespace's links, sorted, without the
// "@ifN" peer suffix.
func (n *NetNS) LinkNames(t TB) []string {
	t.Helper()
	var names []string
	for _, l := range n.Links(t) {
		name, _, _ := strings.Cut(strings.Fields(l)[0], "@")
		names = append(names, name)
	}
	return names
}

// Addrs returns `ip -o addr` as "dev family addr/len" lines, sorted.
func (n *NetNS) Addrs(t TB) []string {
	t.Helper()
	out := n.MustExec(t, "ip", "-o", "addr", "show")
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 4 {
			continue
		}
		lines = append(lines, f[1]+" "+f[2]+" "+f[3])
	}
	sort.Strings(lines)
	return lines
}

// Routes returns `ip [-6] route show table all` for family "4" or "6",
// minus the kernel's local and multicast tables' noise, one route a line.
func (n *NetNS) Routes(t TB, family string) []string {
	t.Helper()
	out := n.MustExec(t, "ip", "-"+family, "route", "show", "table", "main")
	return nonEmptyLines(out)
}

// Neighbors returns `ip neigh show` lines (permanent and learnt).
func (n *NetNS) Neighbors(t TB) []string {
	t.Helper()
	return nonEmptyLines(n.MustExec(t, "ip", "neigh", "show"))
}

// FDB returns `bridge fdb show` lines for dev, or for every device if dev is
// empty.
func (n *NetNS) FDB(t TB, dev string) []string {
	t.Helper()
	args := []string{"fdb", "show"}
	if dev != "" {
		args = append(args, "dev", dev)
	}
	return nonEmptyLines(n.MustExec(t, "bridge", args...))
}

// Sysctl reads a /proc/sys/net key (as "net/ipv4/ip_forward") inside the
// namespace.
func (n *NetNS) Sysctl(t TB, key string) string {
	t.Helper()
	return strings.TrimSpace(n.MustExec(t, "cat", filepath.Join("/proc/sys", key)))
}

var (
	countersRe  = regexp.MustCompile(`\[\d+:\d+\]`)
	nftCountRe  = regexp.MustCompile(`counter packets \d+ bytes \d+`)
	nftHandleRe = regexp.MustCompile(` # handle \d+`)
)

// Netfilter returns the namespace's netfilter state for comparison: the
// output of iptables-save and ip6tables-save (comments and counters
// dropped) followed by `nft list ruleset` (counters and handles dropped).
// Two calls compare equal exactly when no rule, chain, table, set or map
// differs.
func (n *NetNS) Netfilter(t TB) string {
	t.Helper()
	var b strings.Builder
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		out, err := n.Exec(save)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(out, "\n") {
			if l == "" || strings.HasPrefix(l, "#") {
				continue
			}
			b.WriteString(countersRe.ReplaceAllString(l, "[-]") + "\n")
		}
	}
	out, err := n.Exec("nft", "list", "ruleset")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "# Warning") {
			continue
		}
		l = nftCountRe.ReplaceAllString(l, "counter")
		b.WriteString(nftHandleRe.ReplaceAllString(l, "") + "\n")
	}
	return b.String()
}

// Files lists every regular file under dir as slash paths relative to dir,
// sorted; a missing dir is an empty list.
func Files(t TB, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && errorsIsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	return files
}

func nonEmptyLines(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
		}
	}
	return lines
}
