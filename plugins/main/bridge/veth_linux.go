package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// vethSpec is one veth pair as addVeth creates it.
type vethSpec struct {
	host, peer       string
	mtu              int
	hostMAC, peerMAC net.HardwareAddr // peerMAC nil: kernel-chosen
	// master is the bridge's ifindex; the host end is then also up.
	master int
	// peerNetNS is an open fd of the pod's namespace.
	peerNetNS int
}

// netlinkTimeout bounds the wait for the kernel's answer.
const netlinkTimeout = 10 * time.Second

// addVeth creates the pair in one RTM_NEWLINK request and returns the
// host end as the kernel reports it. The request carries the master and
// the up flag, and asks for an echo (NLM_F_ECHO, Linux 6.3+), so the usual
// follow-ups (a lookup of the new link, a separate RTM_SETLINK for the
// master) are not needed; with an older kernel that echoes nothing, the
// link is looked up and the master set if the kernel left it unset. An existing host end is an
// error wrapping EEXIST.
// Equivalent to: `ip link add $host mtu $mtu address $mac master $br up
// type veth peer name $peer mtu $mtu address $peermac netns $pod`.
func addVeth(s vethSpec) (netlink.Link, error) {
	echo, err := netlinkExchange(vethRequest(s), unix.RTM_NEWLINK)
	if err != nil {
		return nil, err
	}
	if echo != nil {
		host, err := netlink.LinkDeserialize(nil, echo)
		if err == nil && host.Attrs().Name == s.host {
			// The kernel echoes the link before it applies IFLA_MASTER,
			// which every kernel that echoes does apply at creation.
			host.Attrs().MasterIndex = s.master
			return host, nil
		}
	}
	host, err := netlinksafe.LinkByName(s.host)
	if err != nil {
		return nil, fmt.Errorf("find veth %q after creating it: %w", s.host, err)
	}
	if s.master != 0 && host.Attrs().MasterIndex != s.master {
		if err := netlink.LinkSetMasterByIndex(host, s.master); err != nil {
			return nil, fmt.Errorf("attach veth %q to the bridge: %w", s.host, err)
		}
		host.Attrs().MasterIndex = s.master
	}
	return host, nil
}

// vethRequest renders the RTM_NEWLINK request of addVeth.
func vethRequest(s vethSpec) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK|unix.NLM_F_ECHO)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	if s.master != 0 {
		msg.Change, msg.Flags = unix.IFF_UP, unix.IFF_UP
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(s.host)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(s.mtu))))
	req.AddData(nl.NewRtAttr(unix.IFLA_ADDRESS, []byte(s.hostMAC)))
	if s.master != 0 {
		req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(s.master))))
	}
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	peer := info.AddRtAttr(nl.IFLA_INFO_DATA, nil).AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(s.peer))
	peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(s.mtu)))
	if s.peerMAC != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, []byte(s.peerMAC))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(s.peerNetNS)))
	req.AddData(info)
	return req
}

// netlinkExchange sends req on a new rtnetlink socket in the calling
// thread's namespace and reads until the kernel's acknowledgement (req
// must ask for one, NLM_F_ACK). It returns the payload of the last
// message of type reply the kernel sent before it (an echo, or the answer
// to a get), nil when there was none, or the kernel's error.
func netlinkExchange(req *nl.NetlinkRequest, reply uint16) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(netlinkTimeout.Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("set rtnetlink timeout: %w", err)
	}
	kernel := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	if err := unix.Sendto(fd, req.Serialize(), 0, kernel); err != nil {
		return nil, fmt.Errorf("send to rtnetlink: %w", err)
	}
	buf := make([]byte, 1<<16)
	var echo []byte
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("receive from rtnetlink: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parse rtnetlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue
			}
			switch m.Header.Type {
			case reply:
				echo = append([]byte(nil), m.Data...)
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short rtnetlink acknowledgement")
				}
				if errno := int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
					return nil, syscall.Errno(-errno)
				}
				return echo, nil
			}
		}
	}
}
