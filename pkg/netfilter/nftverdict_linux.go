package netfilter

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/google/nftables/expr"
	mdnetlink "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Verdict-map values read over netlink, shared by the masquerade and
// host-port readers.

// decodeVerdict parses the NFTA_DATA_VERDICT attributes that
// google/nftables leaves undecoded in a verdict map element's Val:
// NFTA_VERDICT_CODE (big-endian int32) and, for jump and goto,
// NFTA_VERDICT_CHAIN. On a malformed attribute it returns nil and the error.
func decodeVerdict(b []byte) (*expr.Verdict, error) {
	ad, err := mdnetlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	ad.ByteOrder = binary.BigEndian
	v := &expr.Verdict{}
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_VERDICT_CODE:
			v.Kind = expr.VerdictKind(int32(ad.Uint32()))
		case unix.NFTA_VERDICT_CHAIN:
			v.Chain = strings.TrimRight(ad.String(), "\x00")
		}
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	return v, nil
}

// verdictString renders a map verdict as nft and knftables print it
// ("jump chain"); nil renders as "".
func verdictString(v *expr.Verdict) string {
	if v == nil {
		return ""
	}
	switch v.Kind {
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}
