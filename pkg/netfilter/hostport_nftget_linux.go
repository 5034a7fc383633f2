package netfilter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/userdata"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// Get is part of hpNFT: one NFT_MSG_GETSETELEM per element, no dump, so
// its cost does not depend on how many pods the node has.
// Equivalent to: `nft get element inet podnet-hostport $set { $key }`.
func (k *hpNFTKernel) Get(_ context.Context, want []*knftables.Element) ([]*knftables.Element, error) {
	c, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("open netfilter netlink socket: %w", err)
	}
	defer c.Close()
	out := make([]*knftables.Element, len(want))
	for i, e := range want {
		got, err := hpGetElement(c, e)
		if err != nil {
			return nil, fmt.Errorf("get element %s of table inet %s: %w", hpElemID(e), hpNFTTable, err)
		}
		out[i] = got
	}
	return out, nil
}

// hpGetElement returns the element with e's set and key, nil if there is
// none. For a range set it is the element containing e's start, so the
// caller compares keys.
func hpGetElement(c *mdnetlink.Conn, e *knftables.Element) (*knftables.Element, error) {
	name := e.Set + e.Map
	se, err := hpEncodeElement(e, false)
	if err != nil {
		return nil, err
	}
	key, err := mdnetlink.MarshalAttributes([]mdnetlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: se.Key}})
	if err != nil {
		return nil, err
	}
	item := []mdnetlink.Attribute{{Type: unix.NFTA_SET_ELEM_KEY | unix.NLA_F_NESTED, Data: key}}
	if len(se.KeyEnd) > 0 {
		end, err := mdnetlink.MarshalAttributes([]mdnetlink.Attribute{{Type: unix.NFTA_DATA_VALUE, Data: se.KeyEnd}})
		if err != nil {
			return nil, err
		}
		item = append(item, mdnetlink.Attribute{Type: hpSetElemKeyEnd | unix.NLA_F_NESTED, Data: end})
	}
	elem, err := mdnetlink.MarshalAttributes(item)
	if err != nil {
		return nil, err
	}
	list, err := mdnetlink.MarshalAttributes([]mdnetlink.Attribute{{Type: unix.NFTA_LIST_ELEM | unix.NLA_F_NESTED, Data: elem}})
	if err != nil {
		return nil, err
	}
	data, err := mdnetlink.MarshalAttributes([]mdnetlink.Attribute{
		{Type: unix.NFTA_SET_ELEM_LIST_TABLE, Data: []byte(hpNFTTable + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_SET, Data: []byte(name + "\x00")},
		{Type: unix.NFTA_SET_ELEM_LIST_ELEMENTS | unix.NLA_F_NESTED, Data: list},
	})
	if err != nil {
		return nil, err
	}
	msgs, err := c.Execute(mdnetlink.Message{
		Header: mdnetlink.Header{Type: mdnetlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETSETELEM), Flags: mdnetlink.Request},
		Data:   append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, data...),
	})
	if errors.Is(err, syscall.ENOENT) {
		return nil, nil // no such element (or set, or table)
	}
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		got, err := hpParseElemReply(name, e.Map != "", m.Data)
		if err != nil || got != nil {
			return got, err
		}
	}
	return nil, nil
}

// hpSetElemKeyEnd is NFTA_SET_ELEM_KEY_END, missing from x/sys/unix.
const hpSetElemKeyEnd = 10

// hpParseElemReply decodes the first element of a NEWSETELEM message.
func hpParseElemReply(name string, isMap bool, b []byte) (*knftables.Element, error) {
	if len(b) < 4 {
		return nil, nil
	}
	var se *gnft.SetElement
	err := hpWalk(b[4:], func(t uint16, v []byte) error {
		if t != unix.NFTA_SET_ELEM_LIST_ELEMENTS {
			return nil
		}
		return hpWalk(v, func(t uint16, v []byte) error {
			if t != unix.NFTA_LIST_ELEM || se != nil {
				return nil
			}
			se = &gnft.SetElement{}
			return hpWalk(v, func(t uint16, v []byte) error { return hpElemAttr(se, t, v) })
		})
	})
	if err != nil || se == nil {
		return nil, err
	}
	return hpDecodeElement(&gnft.Set{Name: name, IsMap: isMap}, *se)
}

// hpElemAttr fills one attribute of a set element.
func hpElemAttr(se *gnft.SetElement, t uint16, v []byte) error {
	inner := func() ([]byte, error) {
		var out []byte
		err := hpWalk(v, func(_ uint16, d []byte) error { out = d; return nil })
		return out, err
	}
	var err error
	switch t {
	case unix.NFTA_SET_ELEM_KEY:
		se.Key, err = inner()
	case hpSetElemKeyEnd:
		se.KeyEnd, err = inner()
	case unix.NFTA_SET_ELEM_DATA:
		se.Val, err = inner() // a value, or the verdict's attributes
	case unix.NFTA_SET_ELEM_USERDATA:
		se.Comment, _ = userdata.GetString(v, userdata.TypeComment)
	}
	return err
}

// hpWalk calls fn for each netlink attribute in b (nested flag cleared).
func hpWalk(b []byte, fn func(t uint16, v []byte) error) error {
	ad, err := mdnetlink.NewAttributeDecoder(b)
	if err != nil {
		return err
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		if err := fn(ad.Type()&^(unix.NLA_F_NESTED|unix.NLA_F_NET_BYTEORDER), ad.Bytes()); err != nil {
			return err
		}
	}
	return ad.Err()
}
