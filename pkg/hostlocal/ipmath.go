package hostlocal

import (
	"fmt"
	"net"
	"strings"
)

// The address arithmetic host-local needs, on net.IP in normal form (4 bytes
// for IPv4). It stands in for upstream pkg/ip, whose package also links
// go-iptables, knftables and ethtool into the binary for no use here; every
// host-local start paid for their initialisation.

// normalize returns ip in 4-byte form when it is IPv4, else 16-byte form, or
// nil when it is not an address.
func normalize(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4
	}
	return ip.To16()
}

// nextIP returns ip+1, wrapping within the family; nil for a non-address.
func nextIP(ip net.IP) net.IP {
	n := normalize(ip)
	if n == nil {
		return nil
	}
	out := append(net.IP(nil), n...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]++
		if out[i] != 0 {
			break
		}
	}
	return out
}

// prevIP returns ip-1, wrapping within the family; nil for a non-address.
func prevIP(ip net.IP) net.IP {
	n := normalize(ip)
	if n == nil {
		return nil
	}
	out := append(net.IP(nil), n...)
	for i := len(out) - 1; i >= 0; i-- {
		out[i]--
		if out[i] != 0xff {
			break
		}
	}
	return out
}

// cmpIP orders two addresses of one family: -1, 0 or 1. Addresses of
// different families (or non-addresses) compare as -2, as in upstream.
func cmpIP(a, b net.IP) int {
	na, nb := normalize(a), normalize(b)
	if len(na) != len(nb) || len(na) == 0 {
		return -2
	}
	for i := range na {
		switch {
		case na[i] < nb[i]:
			return -1
		case na[i] > nb[i]:
			return 1
		}
	}
	return 0
}

// parseIPOrCIDR parses "10.1.2.3" or "10.1.2.3/24" (the prefix is ignored)
// into a normalized address, or nil.
func parseIPOrCIDR(s string) net.IP {
	if strings.Contains(s, "/") {
		ip, _, err := net.ParseCIDR(s)
		if err != nil {
			return nil
		}
		return normalize(ip)
	}
	return normalize(net.ParseIP(s))
}

// argIP is the CNI_ARGS IP= value: an address with an optional, ignored
// prefix length.
type argIP struct{ ip net.IP }

// UnmarshalText implements encoding.TextUnmarshaler for types.LoadArgs.
func (a *argIP) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		a.ip = nil
		return nil
	}
	a.ip = parseIPOrCIDR(string(b))
	if a.ip == nil {
		return fmt.Errorf("invalid IP address %q", b)
	}
	return nil
}
