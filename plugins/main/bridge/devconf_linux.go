package main

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Kernel constants golang.org/x/sys/unix lacks: linux/ip.h and
// linux/netconf.h.
const (
	ipv4DevconfArpNotify = 22 // IPV4_DEVCONF_ARP_NOTIFY

	netconfaIfindex    = 1          // NETCONFA_IFINDEX
	netconfaForwarding = 2          // NETCONFA_FORWARDING
	netconfIfindexAll  = 0xffffffff // NETCONFA_IFINDEX_ALL (-1): net.ipv{4,6}.conf.all
)

// setPodLink sets the pod end up (with up) and its IPv4 arp_notify (with
// arpNotify) in one RTM_NEWLINK request: the IPv4 setting travels as
// IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, so no /proc/sys path is walked for
// it (see sysctlTree for what such a walk costs on a busy node). The
// kernel applies the flags before the IPv4 setting; the link has no
// address yet, so there is nothing to announce in between. Nothing asked,
// nothing sent.
// Equivalent to: `ip link set $if up; sysctl -w net.ipv4.conf.$if.arp_notify=1`.
func setPodLink(index int, up, arpNotify bool) error {
	if !up && !arpNotify {
		return nil
	}
	req := podLinkRequest(index, up, arpNotify)
	if _, err := netlinkExchange(req, unix.RTM_NEWLINK); err != nil {
		what := "set up"
		if arpNotify {
			what = "set arp_notify=1 and up"
			if !up {
				what = "set arp_notify=1"
			}
		}
		return fmt.Errorf("%s ifindex %d in the pod: %w", what, index, err)
	}
	return nil
}

// podLinkRequest renders the request of setPodLink.
func podLinkRequest(index int, up, arpNotify bool) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	if up {
		msg.Change, msg.Flags = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	if arpNotify {
		spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
		conf := spec.AddRtAttr(unix.AF_INET, nil).AddRtAttr(unix.IFLA_INET_CONF, nil)
		conf.AddRtAttr(ipv4DevconfArpNotify, nl.Uint32Attr(1))
		req.AddData(spec)
	}
	return req
}

// forwardingOn reports whether forwarding is on for the family
// (net.ipv4.conf.all.forwarding, the same switch as net.ipv4.ip_forward,
// or net.ipv6.conf.all.forwarding), asked through rtnetlink
// (RTM_GETNETCONF) rather than /proc/sys.
// Equivalent to: `ip -4 netconf show dev all`.
func forwardingOn(family int) (bool, error) {
	name := "IPv4"
	if family == unix.AF_INET6 {
		name = "IPv6"
	}
	answer, err := netlinkExchange(netconfRequest(family), unix.RTM_NEWNETCONF)
	if err != nil {
		return false, fmt.Errorf("read %s forwarding: %w", name, err)
	}
	on, ok := netconfForwarding(answer)
	if !ok {
		return false, fmt.Errorf("read %s forwarding: the kernel's answer has no forwarding attribute", name)
	}
	return on, nil
}

// netconfRequest renders the RTM_GETNETCONF request of forwardingOn:
// netconfmsg (the family, padded to 4 bytes), then NETCONFA_IFINDEX.
func netconfRequest(family int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_GETNETCONF, unix.NLM_F_ACK)
	req.AddData(rawData{byte(family), 0, 0, 0})
	req.AddData(nl.NewRtAttr(netconfaIfindex, nl.Uint32Attr(netconfIfindexAll)))
	return req
}

// rawData is request bytes sent as they are.
type rawData []byte

func (r rawData) Len() int          { return len(r) }
func (r rawData) Serialize() []byte { return r }

// netconfForwarding extracts NETCONFA_FORWARDING from an RTM_NEWNETCONF
// payload (netconfmsg, padded to 4 bytes, then attributes).
func netconfForwarding(b []byte) (bool, bool) {
	if len(b) < 4 {
		return false, false
	}
	attrs, err := nl.ParseRouteAttr(b[4:])
	if err != nil {
		return false, false
	}
	for _, a := range attrs {
		if a.Attr.Type == netconfaForwarding && len(a.Value) >= 4 {
			return binary.NativeEndian.Uint32(a.Value) != 0, true
		}
	}
	return false, false
}
