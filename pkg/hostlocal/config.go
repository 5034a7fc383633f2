package hostlocal

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Config is a validated host-local configuration.
type Config struct {
	// Name is the network name: the store directory under DataDir.
	Name string
	// CNIVersion is the config's version; results are printed in it.
	CNIVersion string
	// DataDir is the store root (default DefaultDataDir).
	DataDir string
	// ResolvConf is a resolv.conf path whose contents become the result's DNS.
	ResolvConf string
	// Routes are copied into the result verbatim.
	Routes []*types.Route
	// Ranges are the range sets, canonical: runtimeConfig.ipRanges first,
	// then the legacy subnet, then ipam.ranges.
	Ranges []RangeSet
	// Requested are the requested IPs, canonical and deduplicated, from
	// CNI_ARGS IP=, args.cni.ips and runtimeConfig.ips, in that order.
	Requested []net.IP
}

type wireRange struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

type wireIPAM struct {
	wireRange
	Type       string          `json:"type"`
	Routes     json.RawMessage `json:"routes"`
	DataDir    string          `json:"dataDir"`
	ResolvConf string          `json:"resolvConf"`
	Ranges     [][]wireRange   `json:"ranges"`
}

type wireConf struct {
	Name          string    `json:"name"`
	CNIVersion    string    `json:"cniVersion"`
	IPAM          *wireIPAM `json:"ipam"`
	RuntimeConfig struct {
		IPs      []string      `json:"ips"`
		IPRanges [][]wireRange `json:"ipRanges"`
	} `json:"runtimeConfig"`
	Args struct {
		CNI struct {
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
}

// envArgs are the CNI_ARGS keys host-local reads. Unknown keys are refused
// unless IgnoreUnknown is set, as in the reference.
type envArgs struct {
	types.CommonArgs
	IP argIP `json:"ip,omitempty"`
}

// ParseStoreConfig reads only what DEL and GC need (name, cniVersion,
// ipam.dataDir), so that a config whose ranges no longer validate can
// still release its reservations.
func ParseStoreConfig(stdin []byte) (*Config, error) {
	var w wireConf
	if err := cniplugin.DecodeConf(stdin, &w); err != nil {
		return nil, err
	}
	return storeConfig(&w)
}

// storeConfig is ParseStoreConfig on the decoded config.
func storeConfig(w *wireConf) (*Config, error) {
	if w.IPAM == nil {
		return nil, cniplugin.ConfigErrorf("network config has no \"ipam\" key")
	}
	if err := ValidateNetworkName(w.Name); err != nil {
		return nil, cniplugin.WithCode(cniplugin.ErrInvalidNetworkConfig, err)
	}
	return &Config{Name: w.Name, CNIVersion: w.CNIVersion, DataDir: dataDir(w.IPAM.DataDir)}, nil
}

// ParseConfig decodes and validates the whole config and the requested
// IPs. It does not require any range: STATUS and GC have no runtimeConfig;
// ADD and CHECK call RequireRanges. Errors carry code 7 (6 for malformed
// JSON, 4 for bad CNI_ARGS) and name the field and value.
func ParseConfig(stdin []byte, cniArgs string) (*Config, error) {
	var w wireConf
	if err := cniplugin.DecodeConf(stdin, &w); err != nil {
		return nil, err
	}
	c, err := storeConfig(&w)
	if err != nil {
		return nil, err
	}
	c.ResolvConf = w.IPAM.ResolvConf
	if len(w.IPAM.Routes) > 0 && string(w.IPAM.Routes) != "null" {
		if err := json.Unmarshal(w.IPAM.Routes, &c.Routes); err != nil {
			return nil, cniplugin.ConfigErrorf("ipam.routes: %w", err)
		}
	}
	if c.Ranges, err = parseRangeSets(&w); err != nil {
		return nil, err
	}
	if c.Requested, err = parseRequested(&w, cniArgs); err != nil {
		return nil, err
	}
	return c, nil
}

// RequireRanges fails when the config has no range set at all.
func (c *Config) RequireRanges() error {
	if len(c.Ranges) == 0 {
		return cniplugin.ConfigErrorf("no IP ranges specified: set ipam.subnet, ipam.ranges or runtimeConfig.ipRanges")
	}
	return nil
}

func dataDir(d string) string {
	if d == "" {
		return DefaultDataDir
	}
	return filepath.Clean(d)
}

// parseRangeSets assembles ipRanges, the legacy subnet and ranges (in that
// order, as the reference), and validates each set and their overlaps.
func parseRangeSets(w *wireConf) ([]RangeSet, error) {
	type source struct {
		field string
		sets  [][]wireRange
	}
	var legacy [][]wireRange
	if w.IPAM.Subnet != "" {
		legacy = [][]wireRange{{w.IPAM.wireRange}}
	}
	var sets []RangeSet
	var fields []string
	for _, src := range []source{{"runtimeConfig.ipRanges", w.RuntimeConfig.IPRanges}, {"ipam", legacy}, {"ipam.ranges", w.IPAM.Ranges}} {
		for i, ws := range src.sets {
			field := fmt.Sprintf("%s[%d]", src.field, i)
			if src.field == "ipam" {
				field = "ipam"
			}
			set, err := parseRangeSet(field, ws)
			if err != nil {
				return nil, err
			}
			sets = append(sets, set)
			fields = append(fields, field)
		}
	}
	return sets, validateSets(w.CNIVersion, sets, fields)
}

func validateSets(cniVersion string, sets []RangeSet, fields []string) error {
	var n4, n6 int
	for i, s := range sets {
		if s.IsIPv4() {
			n4++
		} else {
			n6++
		}
		for j := range sets[:i] {
			if s.Overlaps(sets[j]) {
				return cniplugin.ConfigErrorf("range set %d (%s, %s) overlaps range set %d (%s, %s)", i, fields[i], s, j, fields[j], sets[j])
			}
		}
	}
	if n4 > 1 || n6 > 1 {
		if ok, _ := version.GreaterThanOrEqualTo(cniVersion, "0.3.0"); !ok {
			return cniplugin.ConfigErrorf("cniVersion %q does not support more than one address per family (%d IPv4, %d IPv6 range sets); use 0.3.0 or later", cniVersion, n4, n6)
		}
	}
	return nil
}

func parseRangeSet(field string, ws []wireRange) (RangeSet, error) {
	if len(ws) == 0 {
		return nil, cniplugin.ConfigErrorf("%s: empty range set", field)
	}
	set := make(RangeSet, len(ws))
	for i, wr := range ws {
		f := field
		if field != "ipam" {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		r, err := parseRange(f, wr)
		if err != nil {
			return nil, err
		}
		if err := r.Canonicalize(); err != nil {
			return nil, cniplugin.ConfigErrorf("%s: %w", f, err)
		}
		set[i] = r
	}
	if err := set.Canonicalize(); err != nil {
		return nil, cniplugin.ConfigErrorf("%s: %w", field, err)
	}
	return set, nil
}

func parseRange(field string, wr wireRange) (Range, error) {
	var r Range
	if wr.Subnet == "" {
		return r, cniplugin.ConfigErrorf("%s.subnet: missing", field)
	}
	addr, n, err := net.ParseCIDR(wr.Subnet)
	if err != nil {
		return r, cniplugin.ConfigErrorf("%s.subnet %q: not a CIDR", field, wr.Subnet)
	}
	r.Subnet = types.IPNet{IP: addr, Mask: n.Mask}
	for _, f := range []struct {
		name string
		val  string
		dst  *net.IP
	}{{"rangeStart", wr.RangeStart, &r.RangeStart}, {"rangeEnd", wr.RangeEnd, &r.RangeEnd}, {"gateway", wr.Gateway, &r.Gateway}} {
		if f.val == "" {
			continue
		}
		if *f.dst = net.ParseIP(f.val); *f.dst == nil {
			return r, cniplugin.ConfigErrorf("%s.%s %q: not an IP address", field, f.name, f.val)
		}
	}
	return r, nil
}

// parseRequested collects the requested IPs from CNI_ARGS IP=, args.cni.ips
// and runtimeConfig.ips. A prefix ("10.0.0.5/24") is accepted and ignored.
func parseRequested(w *wireConf, cniArgs string) ([]net.IP, error) {
	var raw []string
	var fields []string
	if cniArgs != "" {
		var e envArgs
		if err := types.LoadArgs(cniArgs, &e); err != nil {
			return nil, cniplugin.Errorf(cniplugin.ErrInvalidEnvironment, "parse CNI_ARGS %q: %w (set IgnoreUnknown=1 to allow other keys)", cniArgs, err)
		}
		if addr := e.IP.ip; addr != nil {
			raw = append(raw, addr.String())
			fields = append(fields, "CNI_ARGS IP")
		}
	}
	for _, s := range w.Args.CNI.IPs {
		raw, fields = append(raw, s), append(fields, "args.cni.ips")
	}
	for _, s := range w.RuntimeConfig.IPs {
		raw, fields = append(raw, s), append(fields, "runtimeConfig.ips")
	}
	var out []net.IP
	seen := map[string]bool{}
	for i, s := range raw {
		addr := parseIPOrCIDR(strings.TrimSpace(s))
		if addr == nil {
			return nil, cniplugin.ConfigErrorf("%s %q: not an IP address", fields[i], s)
		}
		if !seen[string(addr)] {
			seen[string(addr)] = true
			out = append(out, addr)
		}
	}
	return out, nil
}
