package overlay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"syscall"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Peer is one node of the overlay: its underlay address and pod subnet.
type Peer struct {
	VTEPIP netip.Addr
	Subnet netip.Prefix
}

func (p Peer) String() string { return p.VTEPIP.String() + " " + p.Subnet.String() }

// RawPeer is a peer as written in the peers key and in a peers file.
// Unknown keys ("_comment") are ignored.
type RawPeer struct {
	VTEPIP string `json:"vtepIP"`
	Subnet string `json:"subnet"`
}

// peersFileDoc is the object form of a peers file; the bare list form is
// accepted as well.
type peersFileDoc struct {
	Peers []RawPeer `json:"peers"`
}

// ParsePeers validates raw peers; source names where they came from
// ("peers", `peersFile "/etc/..."`) in errors. Errors are code 7 and name the
// entry and value.
func ParsePeers(source string, raw []RawPeer) ([]Peer, error) {
	peers := make([]Peer, 0, len(raw))
	for i, r := range raw {
		ip, err := netip.ParseAddr(r.VTEPIP)
		if err != nil || ip.Zone() != "" {
			return nil, cniplugin.ConfigErrorf("%s[%d].vtepIP %q: not an IP address", source, i, r.VTEPIP)
		}
		ip = ip.Unmap()
		if !ip.IsGlobalUnicast() {
			return nil, cniplugin.ConfigErrorf("%s[%d].vtepIP %q: not a unicast address", source, i, r.VTEPIP)
		}
		sub, err := ParseSubnet(fmt.Sprintf("%s[%d].subnet", source, i), r.Subnet)
		if err != nil {
			return nil, err
		}
		peers = append(peers, Peer{VTEPIP: ip, Subnet: sub})
	}
	return peers, nil
}

// ParseSubnet parses a CIDR that must be a network address ("10.1.2.0/24",
// not "10.1.2.5/24"). key names the configuration key in errors.
func ParseSubnet(key, s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, cniplugin.ConfigErrorf("%s %q: not a CIDR", key, s)
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, cniplugin.ConfigErrorf("%s %q: IPv4-mapped IPv6 prefix; write it as IPv4", key, s)
	}
	if p != p.Masked() {
		return netip.Prefix{}, cniplugin.ConfigErrorf("%s %q: host bits set; did you mean %s", key, s, p.Masked())
	}
	return p, nil
}

// MaxPeersFileSize bounds a peers file. An entry is about 60 bytes, so this
// holds well over a hundred thousand nodes; a larger file is a mistake (or
// a device such as /dev/zero) and is refused rather than read into memory.
const MaxPeersFileSize = 16 << 20

// ReadPeersFile reads a peers file: a JSON list of {"vtepIP","subnet"}
// objects, or an object whose "peers" key holds that list. An unreadable,
// oversized, non-regular (a FIFO or a device would block or never end) or
// malformed file is a code 7 error naming peersFile and the path.
func ReadPeersFile(path string) ([]Peer, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer; it has no effect on a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, cniplugin.ConfigErrorf("peersFile %q: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, cniplugin.ConfigErrorf("peersFile %q: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, cniplugin.ConfigErrorf("peersFile %q: not a regular file (%s)", path, st.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPeersFileSize+1))
	if err != nil {
		return nil, cniplugin.ConfigErrorf("peersFile %q: %w", path, err)
	}
	if len(data) > MaxPeersFileSize {
		return nil, cniplugin.ConfigErrorf("peersFile %q: larger than %d bytes", path, MaxPeersFileSize)
	}
	return ParsePeersFile(path, data)
}

// ParsePeersFile is ReadPeersFile on data already read from path.
func ParsePeersFile(path string, data []byte) ([]Peer, error) {
	var raw []RawPeer
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var doc peersFileDoc
		if err := json.Unmarshal(trimmed, &doc); err != nil {
			return nil, cniplugin.ConfigErrorf("peersFile %q: decode: %w", path, err)
		}
		raw = doc.Peers
	} else if err := json.Unmarshal(trimmed, &raw); err != nil {
		return nil, cniplugin.ConfigErrorf("peersFile %q: decode: %w", path, err)
	}
	return ParsePeers(fmt.Sprintf("peersFile %q: peers", path), raw)
}

// MergePeers joins peer lists, dropping exact duplicates, sorted by subnet.
// Conflicting entries are kept for Validate to report.
func MergePeers(lists ...[]Peer) []Peer {
	seen := map[Peer]bool{}
	var out []Peer
	for _, l := range lists {
		for _, p := range l {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessPeer(out[i], out[j]) })
	return out
}

func lessPeer(a, b Peer) bool {
	if c := a.Subnet.Addr().Compare(b.Subnet.Addr()); c != 0 {
		return c < 0
	}
	if a.Subnet.Bits() != b.Subnet.Bits() {
		return a.Subnet.Bits() < b.Subnet.Bits()
	}
	return a.VTEPIP.Less(b.VTEPIP)
}

// checkPeerOverlaps refuses two subnets that overlap and one vtepIP with
// two subnets. Exact duplicates must be gone already (MergePeers). Prefixes
// either nest or are disjoint, so after sorting by address (shorter first)
// any overlap shows up between neighbours: O(n log n) for large clusters.
func checkPeerOverlaps(peers []Peer) error {
	byIP := make(map[netip.Addr]netip.Prefix, len(peers))
	for _, p := range peers {
		if prev, ok := byIP[p.VTEPIP]; ok {
			return cniplugin.ConfigErrorf("peers: vtepIP %s listed with two subnets, %s and %s", p.VTEPIP, prev, p.Subnet)
		}
		byIP[p.VTEPIP] = p.Subnet
	}
	sorted := append([]Peer(nil), peers...)
	sort.Slice(sorted, func(i, j int) bool { return lessPeer(sorted[i], sorted[j]) })
	for i := 1; i < len(sorted); i++ {
		p, q := sorted[i], sorted[i-1]
		if p.Subnet.Overlaps(q.Subnet) {
			return cniplugin.ConfigErrorf("peers: subnet %s of vtepIP %s overlaps subnet %s of vtepIP %s", p.Subnet, p.VTEPIP, q.Subnet, q.VTEPIP)
		}
	}
	return nil
}
