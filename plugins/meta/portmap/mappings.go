package main

import (
	"net/netip"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/netfilter"
)

// podIPs picks the attachment's addresses from prevResult as the reference
// does: the first IPv4 and the first IPv6 address whose interface is
// ifName inside the sandbox, or that names no interface (an index out of
// range counts as none).
func podIPs(res *current.Result, ifName string) (v4, v6 netip.Addr) {
	for _, ip := range res.IPs {
		if ip.Interface != nil {
			i := *ip.Interface
			if i >= 0 && i < len(res.Interfaces) && (res.Interfaces[i].Name != ifName || res.Interfaces[i].Sandbox == "") {
				continue
			}
		}
		a, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			continue
		}
		a = a.Unmap()
		switch {
		case a.Is4() && !v4.IsValid():
			v4 = a
		case a.Is6() && !v6.IsValid():
			v6 = a
		}
	}
	return v4, v6
}

// planHostPorts expands the mappings over the pod's addresses: a mapping
// without hostIP applies to both families, one with a hostIP only to its
// family; 0.0.0.0 and :: mean every address of their family.
func planHostPorts(ms []mapping, v4, v6 netip.Addr) []netfilter.HostPort {
	var out []netfilter.HostPort
	for _, pod := range []netip.Addr{v4, v6} {
		if !pod.IsValid() {
			continue
		}
		fam := 4
		if pod.Is6() {
			fam = 6
		}
		for _, m := range ms {
			if m.family != 0 && m.family != fam {
				continue
			}
			out = append(out, netfilter.HostPort{Protocol: m.protocol, HostIP: m.hostIP, HostPort: m.hostPort, PodIP: pod, PodPort: m.contPort})
		}
	}
	return out
}

// hostPortKeys are the host ports DEL looks up first. Entries ADD would
// refuse are skipped: DEL also finds entries without them.
func hostPortKeys(entries []portMapEntry) []netfilter.HostPortKey {
	var keys []netfilter.HostPortKey
	for _, e := range entries {
		if m, err := parseMapping(e); err == nil {
			keys = append(keys, netfilter.HostPortKey{Protocol: m.protocol, HostIP: m.hostIP, HostPort: m.hostPort})
		}
	}
	return keys
}
