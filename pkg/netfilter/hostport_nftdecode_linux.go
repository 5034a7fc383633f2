package netfilter

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"

	gnft "github.com/google/nftables"
	"sigs.k8s.io/knftables"
)

// hpField is one component of a set key or map value, as the kernel
// stores it in a concatenation (each field padded to 4 bytes).
type hpField int

const (
	hpAddr4 hpField = iota
	hpAddr6
	hpProto
	hpPort
	hpIfname
)

func (f hpField) size() int {
	switch f {
	case hpAddr4:
		return 4
	case hpAddr6, hpIfname:
		return 16
	case hpProto:
		return 1
	}
	return 2
}

// hpLayout is the key and value layout of one of our sets or maps.
type hpLayout struct {
	key, value []hpField
	verdict    bool
}

// hpLayoutOf returns the layout of a set or map by name, false for a name
// that is not ours.
func hpLayoutOf(name string) (hpLayout, bool) {
	switch name {
	case hpSetLocalnet:
		return hpLayout{key: []hpField{hpIfname}}, true
	case hpSetOwners:
		return hpLayout{key: []hpField{hpAddr6}, value: []hpField{hpPort}}, true
	case hpSetLocalhost:
		return hpLayout{key: []hpField{hpAddr4, hpProto, hpPort}}, true
	}
	for _, v6 := range []bool{false, true} {
		f := hpFamily(v6)
		a := hpAddr4
		if v6 {
			a = hpAddr6
		}
		switch name {
		case f.dnatMap(false):
			return hpLayout{key: []hpField{a, hpProto, hpPort}, value: []hpField{a, hpPort}}, true
		case f.dnatMap(true):
			return hpLayout{key: []hpField{hpProto, hpPort}, value: []hpField{a, hpPort}}, true
		case f.condMap(false):
			return hpLayout{key: []hpField{a, hpProto, hpPort}, verdict: true}, true
		case f.condMap(true):
			return hpLayout{key: []hpField{hpProto, hpPort}, verdict: true}, true
		case f.hairpinSet():
			return hpLayout{key: []hpField{a, hpProto, hpPort, a}}, true
		case f.masqAllSet():
			return hpLayout{key: []hpField{a, hpProto, hpPort}}, true
		}
	}
	return hpLayout{}, false
}

// hpDecodeElement renders a kernel element the way knftables writes it
// ("10.1.0.5", "tcp", "80", `"cni0"` for an interface name, "goto chain"
// for a verdict), so that planned and read elements compare as strings.
// Elements of sets that are not ours give nil. (None of our sets has
// ranges: see hpMasqElements.)
func hpDecodeElement(s *gnft.Set, e gnft.SetElement) (*knftables.Element, error) {
	l, ok := hpLayoutOf(s.Name)
	if !ok || e.IntervalEnd {
		return nil, nil
	}
	key, err := hpDecodeFields(l.key, e.Key)
	if err != nil {
		return nil, fmt.Errorf("key %x: %w", e.Key, err)
	}
	out := &knftables.Element{Key: key}
	if e.Comment != "" {
		out.Comment = knftables.PtrTo(e.Comment)
	}
	switch {
	case s.IsMap && l.verdict:
		out.Map = s.Name
		v := e.VerdictData
		if v == nil {
			if v, err = decodeVerdict(e.Val); err != nil {
				return nil, fmt.Errorf("verdict %x: %w", e.Val, err)
			}
		}
		out.Value = []string{verdictString(v)}
	case s.IsMap:
		out.Map = s.Name
		if out.Value, err = hpDecodeFields(l.value, e.Val); err != nil {
			return nil, fmt.Errorf("value %x: %w", e.Val, err)
		}
	default:
		out.Set = s.Name
	}
	return out, nil
}

// hpDecodeFields splits a concatenation into its fields.
func hpDecodeFields(fields []hpField, b []byte) ([]string, error) {
	var out []string
	for _, f := range fields {
		n := f.size()
		if len(b) < n {
			return nil, fmt.Errorf("short data for field %d", f)
		}
		out = append(out, hpFieldString(f, b[:n]))
		if len(fields) > 1 {
			n = (n + 3) &^ 3
		}
		if n > len(b) {
			n = len(b)
		}
		b = b[n:]
	}
	return out, nil
}

func hpFieldString(f hpField, b []byte) string {
	switch f {
	case hpAddr4, hpAddr6:
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	case hpProto:
		switch b[0] {
		case 6:
			return "tcp"
		case 17:
			return "udp"
		case 132:
			return "sctp"
		}
		return strconv.Itoa(int(b[0]))
	case hpIfname:
		return strconv.Quote(string(bytes.TrimRight(b, "\x00")))
	}
	return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
}
