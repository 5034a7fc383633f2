package netfilter

import (
	"encoding/binary"
	"fmt"

	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// hpNFTGen returns the nftables ruleset generation, which every committed
// transaction increments. A read made of several netlink dumps is a
// consistent snapshot only if the generation is the same before and after
// it: a dump that spans a commit may skip or repeat elements.
// The netlink message is NFT_MSG_GETGEN (`nft monitor` shows the ids).
func hpNFTGen() (uint32, error) {
	c, err := mdnetlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return 0, fmt.Errorf("open netfilter netlink socket: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(mdnetlink.Message{
		Header: mdnetlink.Header{
			Type:  mdnetlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN),
			Flags: mdnetlink.Request,
		},
		// struct nfgenmsg: family AF_UNSPEC, version 0, resource id 0.
		Data: []byte{unix.AF_UNSPEC, unix.NFNETLINK_V0, 0, 0},
	})
	if err != nil {
		return 0, fmt.Errorf("get nftables generation: %w", err)
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		ad, err := mdnetlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			return 0, fmt.Errorf("decode nftables generation: %w", err)
		}
		ad.ByteOrder = binary.BigEndian
		for ad.Next() {
			if ad.Type() == unix.NFTA_GEN_ID {
				return ad.Uint32(), nil
			}
		}
	}
	return 0, fmt.Errorf("get nftables generation: no NFTA_GEN_ID in the answer")
}
