package bench

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Snapshot is a node's state that a pod's ADD creates and its DEL must
// remove. Kernel-made IPv6 link-local noise is left out.
type Snapshot struct {
	Links, Addrs, Routes, Netfilter []string
	// Reservations are IPAM files under the dataDir named after an address.
	Reservations []string
	// Cache are the files in libcni's result cache.
	Cache []string
}

// takeSnapshot reads the node's state.
func takeSnapshot(n *Node) (Snapshot, error) {
	var s Snapshot
	var err error
	if s.Links, err = links(n.NS); err != nil {
		return s, err
	}
	if s.Addrs, err = addrs(n.NS); err != nil {
		return s, err
	}
	if s.Routes, err = routes(n.NS); err != nil {
		return s, err
	}
	nf, err := readNetfilter(n.NS)
	if err != nil {
		return s, err
	}
	s.Netfilter = nf.Lines()
	if s.Reservations, err = reservations(n.DataDir); err != nil {
		return s, err
	}
	if s.Cache, err = files(filepath.Join(n.CacheDir, "results")); err != nil {
		return s, err
	}
	return s, nil
}

// Leftovers compares the snapshot taken after a scenario with the one taken
// before and describes every difference: "netfilter: +<rule>" for something
// left behind, "-" for something that went missing.
func (s Snapshot) Leftovers(before Snapshot) []string {
	var out []string
	out = append(out, diff("links", before.Links, s.Links)...)
	out = append(out, diff("addresses", before.Addrs, s.Addrs)...)
	out = append(out, diff("routes", before.Routes, s.Routes)...)
	out = append(out, diff("netfilter", before.Netfilter, s.Netfilter)...)
	out = append(out, diff("IPAM reservations", before.Reservations, s.Reservations)...)
	out = append(out, diff("libcni cache", before.Cache, s.Cache)...)
	return out
}

// diff lists lines added (+) and removed (-) between two multisets.
func diff(what string, before, after []string) []string {
	count := map[string]int{}
	for _, l := range before {
		count[l]--
	}
	for _, l := range after {
		count[l]++
	}
	var out []string
	for l, c := range count {
		for ; c > 0; c-- {
			out = append(out, fmt.Sprintf("%s: +%s", what, l))
		}
		for ; c < 0; c++ {
			out = append(out, fmt.Sprintf("%s: -%s", what, l))
		}
	}
	sort.Strings(out)
	return out
}

// links returns "name [master X]" per link, sorted, without "@peer".
func links(n *NetNS) ([]string, error) {
	out, err := n.IP("-o", "link", "show")
	if err != nil {
		return nil, err
	}
	var res []string
	for _, l := range nonEmpty(out) {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if i := strings.Index(l, " master "); i >= 0 {
			name += " master " + strings.Fields(l[i+8:])[0]
		}
		res = append(res, name)
	}
	sort.Strings(res)
	return res, nil
}

// addrs returns "dev family address/len" per address, without link-local.
func addrs(n *NetNS) ([]string, error) {
	out, err := n.IP("-o", "addr", "show")
	if err != nil {
		return nil, err
	}
	var res []string
	for _, l := range nonEmpty(out) {
		f := strings.Fields(l)
		if len(f) < 4 || strings.HasPrefix(f[3], "fe80:") {
			continue
		}
		res = append(res, f[1]+" "+f[2]+" "+f[3])
	}
	sort.Strings(res)
	return res, nil
}

// routes returns every route of every table, both families, without the
// carrier flag and the kernel's IPv6 link-local and multicast routes.
func routes(n *NetNS) ([]string, error) {
	var res []string
	for _, fam := range []string{"-4", "-6"} {
		out, err := n.IP(fam, "route", "show", "table", "all")
		if err != nil {
			return nil, err
		}
		for _, l := range nonEmpty(out) {
			if strings.Contains(l, "fe80:") || strings.Contains(l, "ff00::/8") {
				continue
			}
			res = append(res, strings.ReplaceAll(l, " linkdown", ""))
		}
	}
	sort.Strings(res)
	return res, nil
}

// reservations lists files under dir whose name is an IP address (host-local
// keeps one such file per reserved address), relative to dir.
func reservations(dir string) ([]string, error) {
	all, err := files(dir)
	if err != nil {
		return nil, err
	}
	var res []string
	for _, f := range all {
		if net.ParseIP(filepath.Base(f)) != nil {
			res = append(res, f)
		}
	}
	return res, nil
}

// files lists the regular files under dir, relative to it, sorted; a
// missing dir is an empty list.
func files(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir && os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	sort.Strings(out)
	return out, nil
}

// podLeftovers returns the links other than lo left in a pod after DEL.
func podLeftovers(p *Pod) ([]string, error) {
	all, err := links(p.NS)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, l := range all {
		if l != "lo" {
			left = append(left, l)
		}
	}
	return left, nil
}

func nonEmpty(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
