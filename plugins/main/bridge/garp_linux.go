package main

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// announceIPv4 sends one gratuitous ARP request per IPv4 address from the
// link (in the calling thread's namespace) to the broadcast address, as
// the kernel does with arp_notify when a link comes up with addresses, so
// that peers still mapping a reused address to another MAC update their
// entry at once. Nothing to announce sends nothing.
// Equivalent to: `arping -U -c 1 -I $if $ip`.
func announceIPv4(l netlink.Link, ips []net.IP) error {
	if len(ips) == 0 {
		return nil
	}
	name := l.Attrs().Name
	mac := l.Attrs().HardwareAddr
	if len(mac) != 6 {
		full, err := netlink.LinkByIndex(l.Attrs().Index)
		if err != nil {
			return fmt.Errorf("announce addresses of %q: read its MAC: %w", name, err)
		}
		mac = full.Attrs().HardwareAddr
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return fmt.Errorf("announce addresses of %q: open packet socket: %w", name, err)
	}
	defer unix.Close(fd)
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: l.Attrs().Index, Halen: 6}
	copy(to.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	for _, ip := range ips {
		if err := unix.Sendto(fd, garpPacket(mac, ip.To4()), 0, to); err != nil {
			return fmt.Errorf("announce %s on %q: %w", ip, name, err)
		}
	}
	return nil
}

// garpPacket is the ARP payload of a gratuitous request: sender and target
// protocol address both ip, sender hardware address mac.
func garpPacket(mac net.HardwareAddr, ip net.IP) []byte {
	b := make([]byte, 28)
	binary.BigEndian.PutUint16(b[0:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // protocol: IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:], mac)
	copy(b[14:], ip)
	copy(b[24:], ip)
	return b
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
