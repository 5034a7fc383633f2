package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkAddrs returns the IPv4 and IPv6 addresses of one link. It asks the
// kernel for that link's addresses only (an RTM_GETADDR dump with the
// ifindex, on a socket with NETLINK_GET_STRICT_CHK). netlink.AddrList asks
// for every address of the namespace and filters afterwards, so on the
// node it grew with the number of pods (every host veth is walked). A
// kernel without strict checking (before 4.20) gets the full dump.
// Equivalent to: `ip addr show dev $l`.
func linkAddrs(l netlink.Link) ([]netlink.Addr, error) {
	index := l.Attrs().Index
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	defer s.Close()
	if err := unix.SetsockoptInt(s.GetFd(), unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		return netlinksafe.AddrList(l, netlink.FAMILY_ALL)
	}
	var msgs [][]byte
	for try := 0; ; try++ {
		req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
		msg := nl.NewIfAddrmsg(unix.AF_UNSPEC)
		msg.Index = uint32(index)
		req.AddData(msg)
		req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}
		msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
		if errors.Is(err, nl.ErrDumpInterrupted) && try < 5 {
			continue // the addresses changed during the dump
		}
		if err != nil {
			return nil, err
		}
		break
	}
	addrs := make([]netlink.Addr, 0, len(msgs))
	for _, m := range msgs {
		a, ok, err := parseAddrMsg(m)
		if err != nil {
			return nil, err
		}
		if ok && a.LinkIndex == index {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// parseAddrMsg decodes an RTM_NEWADDR payload: address, prefix, flags and
// scope; ok is false for a family other than IPv4 and IPv6.
func parseAddrMsg(m []byte) (a netlink.Addr, ok bool, err error) {
	if len(m) < unix.SizeofIfAddrmsg {
		return a, false, fmt.Errorf("parse address message: %d bytes", len(m))
	}
	ifa := nl.DeserializeIfAddrmsg(m)
	bits := 32
	switch ifa.Family {
	case unix.AF_INET:
	case unix.AF_INET6:
		bits = 128
	default:
		return a, false, nil
	}
	attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfAddrmsg:])
	if err != nil {
		return a, false, fmt.Errorf("parse address message: %w", err)
	}
	var local, address net.IP
	flags := uint32(ifa.Flags)
	for _, at := range attrs {
		switch at.Attr.Type {
		case unix.IFA_LOCAL:
			local = net.IP(at.Value)
		case unix.IFA_ADDRESS:
			address = net.IP(at.Value)
		case unix.IFA_FLAGS:
			if len(at.Value) >= 4 {
				flags = nl.NativeEndian().Uint32(at.Value)
			}
		}
	}
	ip := local // IFA_LOCAL is the address itself; IFA_ADDRESS the peer on point-to-point links
	if ip == nil {
		ip = address
	}
	if ip == nil {
		return a, false, fmt.Errorf("parse address message: no address")
	}
	return netlink.Addr{
		IPNet:     &net.IPNet{IP: append(net.IP(nil), ip...), Mask: net.CIDRMask(int(ifa.Prefixlen), bits)},
		LinkIndex: int(ifa.Index),
		Flags:     int(flags),
		Scope:     int(ifa.Scope),
	}, true, nil
}
