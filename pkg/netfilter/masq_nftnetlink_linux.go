package netfilter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"sigs.k8s.io/knftables"
)

// nftNetlinkReader reads one inet table over netlink, in-process: the hot
// path of EnsureMasquerade (every pod ADD) then costs no exec of nft.
// Answers have the shape knftables gives (prefix keys "10.0.0.0/16",
// verdict values "jump chain", rules with Comment and Handle only).
type nftNetlinkReader struct {
	table string
}

func newNFTNetlinkReader(table string) *nftNetlinkReader {
	return &nftNetlinkReader{table: table}
}

// isNotFound reports an absent table, chain, set or element, from either
// knftables or netlink.
func isNotFound(err error) bool {
	return knftables.IsNotFound(err) || errors.Is(err, syscall.ENOENT)
}

func (r *nftNetlinkReader) conn() (*gnft.Conn, *gnft.Table, error) {
	c, err := gnft.New()
	if err != nil {
		return nil, nil, fmt.Errorf("open nftables netlink socket: %w", err)
	}
	return c, &gnft.Table{Name: r.table, Family: gnft.TableFamilyINet}, nil
}

// List is part of nftReader. Only "chain" is supported.
func (r *nftNetlinkReader) List(_ context.Context, objectType string) ([]string, error) {
	if objectType != "chain" {
		return nil, fmt.Errorf("netlink reader: cannot list %q", objectType)
	}
	c, t, err := r.conn()
	if err != nil {
		return nil, err
	}
	if _, err := c.ListTableOfFamily(t.Name, t.Family); err != nil {
		return nil, fmt.Errorf("get table inet %s: %w", t.Name, err)
	}
	chains, err := c.ListChainsOfTableFamily(t.Family)
	if err != nil {
		return nil, fmt.Errorf("list inet chains: %w", err)
	}
	var names []string
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == t.Name {
			names = append(names, ch.Name)
		}
	}
	return names, nil
}

// ListRules is part of nftReader.
func (r *nftNetlinkReader) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	c, t, err := r.conn()
	if err != nil {
		return nil, err
	}
	rules, err := c.GetRules(t, &gnft.Chain{Name: chain, Table: t})
	if err != nil {
		return nil, fmt.Errorf("get rules of chain inet %s %s: %w", t.Name, chain, err)
	}
	out := make([]*knftables.Rule, 0, len(rules))
	for _, rl := range rules {
		kr := &knftables.Rule{Chain: chain, Handle: knftables.PtrTo(int(rl.Handle))}
		if s, ok := userdata.GetString(rl.UserData, userdata.TypeComment); ok {
			kr.Comment = &s
		}
		out = append(out, kr)
	}
	return out, nil
}

// ListElements is part of nftReader. Interval sets come back as CIDR keys.
func (r *nftNetlinkReader) ListElements(_ context.Context, objectType, name string) ([]*knftables.Element, error) {
	c, t, err := r.conn()
	if err != nil {
		return nil, err
	}
	set, err := c.GetSetByName(t, name)
	if err != nil {
		return nil, fmt.Errorf("get %s inet %s %s: %w", objectType, t.Name, name, err)
	}
	els, err := c.GetSetElements(set)
	if err != nil {
		return nil, fmt.Errorf("get elements of %s inet %s %s: %w", objectType, t.Name, name, err)
	}
	return intervalElements(objectType, name, els)
}

// intervalElements turns the kernel's interval boundaries (a start element
// with the value, an end element flagged IntervalEnd holding the first
// address past the range) into one knftables element per prefix.
func intervalElements(objectType, name string, els []gnft.SetElement) ([]*knftables.Element, error) {
	// Adjacent intervals share a boundary: the end of one and the start of
	// the next have the same key. Order ends first on a tie, so a start is
	// never paired with the end of the interval before it.
	slices.SortFunc(els, func(a, b gnft.SetElement) int {
		if c := bytes.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		switch {
		case a.IntervalEnd && !b.IntervalEnd:
			return -1
		case !a.IntervalEnd && b.IntervalEnd:
			return 1
		}
		return 0
	})
	var out []*knftables.Element
	for i, e := range els {
		if e.IntervalEnd {
			continue
		}
		start, ok := netip.AddrFromSlice(e.Key)
		if !ok {
			return nil, fmt.Errorf("%s %s: element key of %d bytes is not an address", objectType, name, len(e.Key))
		}
		var end netip.Addr // zero: the range runs to the end of the address space
		for _, n := range els[i+1:] {
			if n.IntervalEnd && bytes.Compare(n.Key, e.Key) > 0 {
				end, _ = netip.AddrFromSlice(n.Key)
				break
			}
		}
		p, ok := rangePrefix(start, end)
		if !ok {
			return nil, fmt.Errorf("%s %s: range from %s to %s is not a prefix", objectType, name, start, end)
		}
		el := &knftables.Element{Key: []string{p.String()}}
		if objectType == "map" {
			el.Map = name
			v := e.VerdictData
			if v == nil {
				v, _ = decodeVerdict(e.Val) // undecodable: no verdict, as before
			}
			el.Value = []string{verdictString(v)}
		} else {
			el.Set = name
		}
		out = append(out, el)
	}
	return out, nil
}

// rangePrefix returns the prefix covering exactly [start, end); an invalid
// end means "to the last address".
func rangePrefix(start, end netip.Addr) (netip.Prefix, bool) {
	for bits := 0; bits <= start.BitLen(); bits++ {
		p := netip.PrefixFrom(start, bits)
		if p.Masked().Addr() != start {
			continue
		}
		next := lastAddr(p).Next()
		if (!end.IsValid() && !next.IsValid()) || next == end {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// lastAddr is the highest address of a prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
