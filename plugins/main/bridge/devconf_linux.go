package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Kernel constants golang.org/x/sys/unix lacks: linux/ip.h and
// linux/netconf.h.
const (
	ipv4DevconfArpNotify = 22 // IPV4_DEVCONF_ARP_NOTIFY
	ifla6AddrGenMode     = 8  // IFLA_INET6_ADDR_GEN_MODE
	in6AddrGenModeNone   = 1  // IN6_ADDR_GEN_MODE_NONE

	netconfaIfindex    = 1          // NETCONFA_IFINDEX
	netconfaForwarding = 2          // NETCONFA_FORWARDING
	netconfIfindexAll  = 0xffffffff // NETCONFA_IFINDEX_ALL (-1): net.ipv{4,6}.conf.all
)

// podLinkSettings is what setPodLink applies to the pod end.
type podLinkSettings struct {
	up        bool
	arpNotify bool // net.ipv4.conf.$if.arp_notify=1
	// noLinkLocal sets addr_gen_mode=none before the link comes up, so the
	// kernel gives it no IPv6 link-local address.
	noLinkLocal bool
}

// setPodLink applies s to the pod end with rtnetlink, not /proc/sys (see
// sysctlTree for what a /proc/sys walk costs on a busy node): the IPv4
// setting travels as IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF, the IPv6 one as
// IFLA_AF_SPEC/AF_INET6/IFLA_INET6_ADDR_GEN_MODE. The kernel applies a
// request's flags before its IFLA_AF_SPEC, and makes the link-local
// address when the link comes up, so noLinkLocal takes a request of its
// own before the up; otherwise one request does all. The link has no
// address yet, so arp_notify set after the up misses no announcement.
// A link without IPv6 (its MTU below 1280) keeps the IPv4 setting alone.
// Equivalent to: `ip link set $if addrgenmode none; ip link set $if up;
// sysctl -w net.ipv4.conf.$if.arp_notify=1`.
func setPodLink(index int, s podLinkSettings) error {
	var reqs []*nl.NetlinkRequest
	if s.noLinkLocal {
		reqs = append(reqs, linkSettingsRequest(index, false, s.arpNotify, true))
		if s.up {
			reqs = append(reqs, linkSettingsRequest(index, true, false, false))
		}
	} else if s.up || s.arpNotify {
		reqs = append(reqs, linkSettingsRequest(index, s.up, s.arpNotify, false))
	}
	for i, req := range reqs {
		_, err := netlinkExchange(req, unix.RTM_NEWLINK)
		if errors.Is(err, unix.EAFNOSUPPORT) && i == 0 && s.noLinkLocal {
			// No IPv6 on this link: no link-local address to leave out.
			_, err = netlinkExchange(linkSettingsRequest(index, false, s.arpNotify, false), unix.RTM_NEWLINK)
		}
		if err != nil {
			return fmt.Errorf("set ifindex %d in the pod (%s): %w", index, s, err)
		}
	}
	return nil
}

// String names the settings for error messages.
func (s podLinkSettings) String() string {
	var parts []string
	if s.noLinkLocal {
		parts = append(parts, "addrgenmode none")
	}
	if s.arpNotify {
		parts = append(parts, "arp_notify=1")
	}
	if s.up {
		parts = append(parts, "up")
	}
	return strings.Join(parts, ", ")
}

// linkSettingsRequest renders one RTM_NEWLINK request of setPodLink, and
// of quietPort (noLinkLocal alone).
func linkSettingsRequest(index int, up, arpNotify, noLinkLocal bool) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	if up {
		msg.Change, msg.Flags = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	if arpNotify || noLinkLocal {
		spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
		if arpNotify {
			conf := spec.AddRtAttr(unix.AF_INET, nil).AddRtAttr(unix.IFLA_INET_CONF, nil)
			conf.AddRtAttr(ipv4DevconfArpNotify, nl.Uint32Attr(1))
		}
		if noLinkLocal {
			spec.AddRtAttr(unix.AF_INET6, nil).AddRtAttr(ifla6AddrGenMode, []byte{in6AddrGenModeNone})
		}
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
