package cniplugin

import (
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// PrintResult prints res in the given CNI version on stdout, byte for byte
// as types.PrintResult does.
//
// Why: for a 1.x result, the library marshals the result, unmarshals it
// into a map, marshals the map and indents it, and each first use of a
// result type in a process builds encoding/json's reflection tables for
// it. In a process that prints one result and exits, that was about
// 0.2 ms of the bridge's ADD. A 1.x result is written here directly, with
// the library's key order (sorted, from its map), number form and string
// escaping; any other version, or a value the library would refuse or
// print in another form (an IP of a bad length), goes to the library.
func PrintResult(res types.Result, version string) error {
	return printResultTo(os.Stdout, res, version)
}

func printResultTo(w io.Writer, res types.Result, version string) error {
	if r, ok := res.(*current.Result); ok && is1x(version) && (r.CNIVersion == "" || is1x(r.CNIVersion)) {
		if b, ok := encodeResult(r, version); ok {
			_, err := w.Write(b)
			return err
		}
	}
	converted, err := res.GetAsVersion(version)
	if err != nil {
		return err
	}
	return converted.PrintTo(w)
}

func is1x(v string) bool { return v == "1.0.0" || v == "1.1.0" }

// resultWriter writes indented JSON as json.MarshalIndent(v, "", "    ")
// does. ok turns false on a value it does not write as the library would.
type resultWriter struct {
	buf   bytes.Buffer
	depth int
	first []bool // per open object or array: no member written yet
	ok    bool
}

// encodeResult renders r as types100.Result.PrintTo does after
// GetAsVersion(version).
func encodeResult(r *current.Result, version string) ([]byte, bool) {
	w := &resultWriter{ok: true}
	w.open('{')
	w.key("cniVersion")
	w.str(version)
	if !r.DNS.IsEmpty() {
		w.key("dns")
		w.open('{')
		if r.DNS.Domain != "" {
			w.key("domain")
			w.str(r.DNS.Domain)
		}
		w.strList("nameservers", r.DNS.Nameservers)
		w.strList("options", r.DNS.Options)
		w.strList("search", r.DNS.Search)
		w.close('}')
	}
	objects(w, "interfaces", r.Interfaces, func(i *current.Interface) {
		w.optStr("mac", i.Mac)
		w.optInt("mtu", i.Mtu)
		w.key("name")
		w.str(i.Name)
		w.optStr("pciID", i.PciID)
		w.optStr("sandbox", i.Sandbox)
		w.optStr("socketPath", i.SocketPath)
	})
	objects(w, "ips", r.IPs, func(ip *current.IPConfig) {
		w.key("address")
		w.str(ip.Address.String())
		w.optIP("gateway", ip.Gateway)
		if ip.Interface != nil {
			w.key("interface")
			w.num(*ip.Interface)
		}
	})
	objects(w, "routes", r.Routes, func(rt *types.Route) {
		w.optInt("advmss", rt.AdvMSS)
		w.key("dst")
		w.str(rt.Dst.String())
		w.optIP("gw", rt.GW)
		w.optInt("mtu", rt.MTU)
		w.optInt("priority", rt.Priority)
		if rt.Scope != nil {
			w.key("scope")
			w.num(*rt.Scope)
		}
		if rt.Table != nil {
			w.key("table")
			w.num(*rt.Table)
		}
	})
	w.close('}')
	return w.buf.Bytes(), w.ok
}

// list writes a non-empty list under key k as an array, each member
// written by each.
func list[T any](w *resultWriter, k string, items []T, each func(T)) {
	if len(items) == 0 {
		return
	}
	w.key(k)
	w.open('[')
	for _, it := range items {
		w.elem()
		each(it)
	}
	w.close(']')
}

// objects is list for objects: each member's keys (in sorted order)
// written by fields, a nil member as null.
func objects[T any](w *resultWriter, k string, items []*T, fields func(*T)) {
	list(w, k, items, func(it *T) {
		if it == nil {
			w.null()
			return
		}
		w.open('{')
		fields(it)
		w.close('}')
	})
}

// newline starts a line at the current depth.
func (w *resultWriter) newline() {
	w.buf.WriteByte('\n')
	for i := 0; i < w.depth; i++ {
		w.buf.WriteString("    ")
	}
}

func (w *resultWriter) open(c byte) {
	w.buf.WriteByte(c)
	w.depth++
	w.first = append(w.first, true)
}

// close ends an object or array; an empty one stays on its line ("{}").
func (w *resultWriter) close(c byte) {
	empty := w.first[len(w.first)-1]
	w.first = w.first[:len(w.first)-1]
	w.depth--
	if !empty {
		w.newline()
	}
	w.buf.WriteByte(c)
}

// elem starts a member of the innermost object or array.
func (w *resultWriter) elem() {
	if n := len(w.first) - 1; w.first[n] {
		w.first[n] = false
	} else {
		w.buf.WriteByte(',')
	}
	w.newline()
}

func (w *resultWriter) key(k string) {
	w.elem()
	w.buf.WriteByte('"')
	w.buf.WriteString(k) // keys are fixed ASCII names
	w.buf.WriteString(`": `)
}

func (w *resultWriter) null() { w.buf.WriteString("null") }

// num writes an integer as encoding/json writes the float64 the
// library's unmarshal into a map turned it into.
func (w *resultWriter) num(v int) {
	w.buf.Write(strconv.AppendFloat(nil, float64(v), 'f', -1, 64))
}

func (w *resultWriter) optInt(k string, v int) {
	if v != 0 {
		w.key(k)
		w.num(v)
	}
}

func (w *resultWriter) optStr(k, v string) {
	if v != "" {
		w.key(k)
		w.str(v)
	}
}

func (w *resultWriter) strList(k string, v []string) { list(w, k, v, w.str) }

// optIP writes a non-empty IP in its text form; an IP of a bad length is
// an error for the library, so the writer gives up.
func (w *resultWriter) optIP(k string, ip net.IP) {
	if len(ip) == 0 {
		return
	}
	if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		w.ok = false
		return
	}
	w.key(k)
	w.str(ip.String())
}

// str writes s as a JSON string the way it comes out of the library's
// marshal, unmarshal and marshal again: HTML characters, U+2028 and
// U+2029 escaped, each invalid UTF-8 byte turned into U+FFFD (escaped by
// the first marshal, a plain character after the round trip).
func (w *resultWriter) str(s string) {
	const hex = "0123456789abcdef"
	b := &w.buf
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\b':
				b.WriteString(`\b`)
			case c == '\f':
				b.WriteString(`\f`)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString("\ufffd")
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
