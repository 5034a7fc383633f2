package overlay

import (
	"crypto/sha256"
	"net"
	"net/netip"
)

// VTEPMAC returns the MAC address of the VXLAN device whose local (VTEP)
// address is ip. Every node computes every peer's MAC this way, so nothing
// but the address has to be exchanged, and a rebooted node comes back with
// the same MAC (the stale-FDB problem of random MACs cannot happen).
//
// The address is locally administered and unicast: 0e:2a:a:b:c:d for an
// IPv4 address a.b.c.d; for IPv6, the first six bytes of the SHA-256 of the
// 16-byte address, with the first byte's low two bits set to 1 0 (locally
// administered, unicast): 46 bits, so collisions are negligible and Desired
// refuses them anyway.
func VTEPMAC(ip netip.Addr) net.HardwareAddr {
	ip = ip.Unmap()
	if ip.Is4() {
		a := ip.As4()
		return net.HardwareAddr{0x0e, 0x2a, a[0], a[1], a[2], a[3]}
	}
	a := ip.As16()
	sum := sha256.Sum256(a[:])
	return net.HardwareAddr{sum[0]&0xfc | 0x02, sum[1], sum[2], sum[3], sum[4], sum[5]}
}
