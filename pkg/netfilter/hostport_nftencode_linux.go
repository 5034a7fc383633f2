package netfilter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/expr"
	"sigs.k8s.io/knftables"
)

// hpRunNetlink applies an element-only transaction as one netlink batch
// on c: atomic like `nft -f`, without the exec and without nft building
// its cache of the (growing) sets first.
func hpRunNetlink(c *gnft.Conn, tx *hpTx) error {
	table := &gnft.Table{Name: hpNFTTable, Family: gnft.TableFamilyINet}
	for _, op := range tx.ops {
		e := op.obj.(*knftables.Element)
		se, err := hpEncodeElement(e, op.verb == hpAdd)
		if err != nil {
			return fmt.Errorf("encode element %s: %w", hpElemID(e), err)
		}
		set := &gnft.Set{Table: table, Name: e.Set + e.Map, IsMap: e.Map != ""}
		if op.verb == hpAdd {
			err = c.SetAddElements(set, []gnft.SetElement{se})
		} else {
			err = c.SetDeleteElements(set, []gnft.SetElement{se})
		}
		if err != nil {
			return fmt.Errorf("queue element %s: %w", hpElemID(e), err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables netlink transaction of %d element changes: %w", len(tx.ops), err)
	}
	return nil
}

// hpEncodeElement is the inverse of hpDecodeElement.
func hpEncodeElement(e *knftables.Element, withData bool) (gnft.SetElement, error) {
	name := e.Set + e.Map
	l, ok := hpLayoutOf(name)
	if !ok {
		return gnft.SetElement{}, fmt.Errorf("unknown set %q", name)
	}
	var se gnft.SetElement
	var err error
	se.Key, err = hpEncodeFields(l.key, e.Key)
	if err != nil || !withData {
		return se, err
	}
	if e.Comment != nil {
		se.Comment = *e.Comment
	}
	switch {
	case l.verdict:
		chain, ok := strings.CutPrefix(strings.Join(e.Value, ""), "goto ")
		if !ok {
			return se, fmt.Errorf("verdict %q: only goto is used", e.Value)
		}
		se.VerdictData = &expr.Verdict{Kind: expr.VerdictGoto, Chain: chain}
	case l.value != nil:
		se.Val, err = hpEncodeFields(l.value, e.Value)
	}
	return se, err
}

// hpEncodeFields builds a concatenation, each field padded to 4 bytes.
func hpEncodeFields(fields []hpField, vals []string) ([]byte, error) {
	if len(fields) != len(vals) {
		return nil, fmt.Errorf("%d values for %d fields", len(vals), len(fields))
	}
	var out []byte
	for i, f := range fields {
		b, err := hpEncodeField(f, vals[i])
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
		if len(fields) > 1 {
			for len(out)%4 != 0 {
				out = append(out, 0)
			}
		}
	}
	return out, nil
}

func hpEncodeField(f hpField, v string) ([]byte, error) {
	switch f {
	case hpAddr4, hpAddr6:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Is4() != (f == hpAddr4) {
			return nil, fmt.Errorf("address %q of the wrong form", v)
		}
		return a.AsSlice(), nil
	case hpProto:
		switch v {
		case "tcp":
			return []byte{6}, nil
		case "udp":
			return []byte{17}, nil
		case "sctp":
			return []byte{132}, nil
		}
		n, err := strconv.ParseUint(v, 10, 8)
		return []byte{byte(n)}, err
	case hpIfname:
		name, err := strconv.Unquote(v)
		if err != nil || len(name) > 15 {
			return nil, fmt.Errorf("interface name %s", v)
		}
		b := make([]byte, 16)
		copy(b, name)
		return b, nil
	}
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("port %q: %w", v, err)
	}
	return binary.BigEndian.AppendUint16(nil, uint16(n)), nil
}
