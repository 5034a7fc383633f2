package main

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// defaultMarkMasqBit is the reference's default iptables masquerade mark
// bit (Kubernetes uses 14 and 15, Calico 20-31).
const defaultMarkMasqBit = 13

// netConf is the portmap config: the reference plugin's keys, plus the
// logging keys every podnet plugin takes.
type netConf struct {
	types.PluginConf
	cniplugin.LogConf

	Backend              *string   `json:"backend,omitempty"`
	SNAT                 *bool     `json:"snat,omitempty"`
	MasqAll              bool      `json:"masqAll,omitempty"`
	MarkMasqBit          *int      `json:"markMasqBit"`
	ExternalSetMarkChain *string   `json:"externalSetMarkChain"`
	ConditionsV4         *[]string `json:"conditionsV4"`
	ConditionsV6         *[]string `json:"conditionsV6"`
	RuntimeConfig        struct {
		PortMaps []portMapEntry `json:"portMappings,omitempty"`
	} `json:"runtimeConfig,omitempty"`
	// LegacyAttachments is GC's valid-attachment list under the name the
	// spec-v1.1.0 text used; libcni sends both names.
	LegacyAttachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`
}

// portMapEntry is one entry of the portMappings capability.
type portMapEntry struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// String renders an entry for error messages, as the runtime sent it.
func (e portMapEntry) String() string {
	s := fmt.Sprintf("{hostPort: %d, containerPort: %d, protocol: %q", e.HostPort, e.ContainerPort, e.Protocol)
	if e.HostIP != "" {
		s += fmt.Sprintf(", hostIP: %q", e.HostIP)
	}
	return s + "}"
}

// options is the validated config.
type options struct {
	// backend is empty when it is to be chosen on the node.
	backend              netfilter.Backend
	snat, masqAll        bool
	markMasqBit          int
	externalSetMarkChain string
	conditionsV4         []string
	conditionsV6         []string
	mappings             []mapping
}

// mapping is a validated portMappings entry.
type mapping struct {
	entry    portMapEntry
	protocol string
	hostIP   netip.Addr // invalid: any address of both families
	hostPort uint16
	contPort uint16
	family   int // 0: both; 4 or 6: the family of hostIP
}

// decodeConf reads the config without validating it: DEL uses it, which
// must succeed on configs ADD would refuse.
func decodeConf(stdin []byte) (*netConf, error) {
	conf := &netConf{}
	if err := cniplugin.DecodeConf(stdin, conf); err != nil {
		return nil, err
	}
	return conf, nil
}

// parseOptions validates the config and the mappings. Every failure is a
// code 7 error naming the key or the mapping.
func parseOptions(conf *netConf) (*options, error) {
	o := &options{snat: conf.SNAT == nil || *conf.SNAT, masqAll: conf.MasqAll, markMasqBit: defaultMarkMasqBit}
	if conf.Backend != nil {
		b, err := netfilter.ParseBackend("backend", *conf.Backend)
		if err != nil {
			return nil, err
		}
		o.backend = b
	}
	if conf.MarkMasqBit != nil && conf.ExternalSetMarkChain != nil {
		return nil, cniplugin.ConfigErrorf("markMasqBit and externalSetMarkChain are both set: the external chain sets its own mark; keep one")
	}
	if conf.MarkMasqBit != nil {
		if *conf.MarkMasqBit < 0 || *conf.MarkMasqBit > 31 {
			return nil, cniplugin.ConfigErrorf("markMasqBit %d: want 0 to 31", *conf.MarkMasqBit)
		}
		o.markMasqBit = *conf.MarkMasqBit
	}
	if conf.ExternalSetMarkChain != nil {
		if *conf.ExternalSetMarkChain == "" || strings.ContainsAny(*conf.ExternalSetMarkChain, " \t\n\"'") {
			return nil, cniplugin.ConfigErrorf("externalSetMarkChain %q: not an iptables chain name", *conf.ExternalSetMarkChain)
		}
		o.externalSetMarkChain = *conf.ExternalSetMarkChain
	}
	if conf.ConditionsV4 != nil {
		o.conditionsV4 = *conf.ConditionsV4
	}
	if conf.ConditionsV6 != nil {
		o.conditionsV6 = *conf.ConditionsV6
	}
	if err := o.resolveBackend(); err != nil {
		return nil, err
	}
	ms, err := parseMappings(conf.RuntimeConfig.PortMaps)
	if err != nil {
		return nil, err
	}
	o.mappings = ms
	return o, nil
}

// resolveBackend checks that backend-specific options match the backend,
// and picks the backend they imply when none is configured.
func (o *options) resolveBackend() error {
	owners := map[netfilter.Backend][]string{}
	if o.externalSetMarkChain != "" {
		owners[netfilter.IPTables] = append(owners[netfilter.IPTables], "externalSetMarkChain")
	}
	for _, c := range []struct {
		key   string
		conds []string
	}{{"conditionsV4", o.conditionsV4}, {"conditionsV6", o.conditionsV6}} {
		b := conditionsBackend(c.conds)
		if b == "" {
			continue
		}
		if err := validateConditions(c.key, c.conds, b); err != nil {
			return err
		}
		owners[b] = append(owners[b], c.key)
	}
	ipt, nft := owners[netfilter.IPTables], owners[netfilter.NFTables]
	switch {
	case len(ipt) > 0 && len(nft) > 0:
		return cniplugin.ConfigErrorf("options %v are for iptables but %v are for nftables: use one backend's syntax", ipt, nft)
	case o.backend == netfilter.NFTables && len(ipt) > 0:
		return cniplugin.ConfigErrorf("backend %q: options %v are iptables-specific", o.backend, ipt)
	case o.backend == netfilter.IPTables && len(nft) > 0:
		return cniplugin.ConfigErrorf("backend %q: options %v are nftables expressions", o.backend, nft)
	case o.backend == "" && len(ipt) > 0:
		o.backend = netfilter.IPTables
	case o.backend == "" && len(nft) > 0:
		o.backend = netfilter.NFTables
	}
	return nil
}

// conditionsBackend tells iptables matches ("-d", "!") from nftables
// expressions, as the reference does: by the first character.
func conditionsBackend(conds []string) netfilter.Backend {
	if len(conds) == 0 || conds[0] == "" {
		return ""
	}
	if conds[0][0] == '-' || conds[0][0] == '!' {
		return netfilter.IPTables
	}
	return netfilter.NFTables
}

// Tokens that would turn a match condition into an action or a new
// statement. Conditions are trusted config, but they must stay matches.
var (
	nftVerdicts = map[string]bool{"accept": true, "drop": true, "reject": true, "queue": true, "jump": true, "goto": true,
		"return": true, "continue": true, "dnat": true, "snat": true, "masquerade": true, "redirect": true, "notrack": true, "set": true}
	iptVerdicts = map[string]bool{"-j": true, "--jump": true, "-g": true, "--goto": true}
)

// validateConditions refuses conditions that are not plain matches.
func validateConditions(key string, conds []string, b netfilter.Backend) error {
	for i, c := range conds {
		bad := strings.ContainsAny(c, "\n\r\x00")
		if b == netfilter.NFTables {
			bad = bad || strings.ContainsAny(c, ";#") || nftVerdicts[strings.ToLower(c)]
		} else {
			bad = bad || iptVerdicts[c]
		}
		if bad {
			return cniplugin.ConfigErrorf("%s[%d] %q: conditions may only match packets, not act on them or end the rule", key, i, c)
		}
	}
	return nil
}

// parseMappings validates the portMappings entries.
func parseMappings(entries []portMapEntry) ([]mapping, error) {
	var out []mapping
	seen := map[string]int{}
	for i, e := range entries {
		m, err := parseMapping(e)
		if err != nil {
			return nil, cniplugin.ConfigErrorf("portMappings[%d] %s: %w", i, e, err)
		}
		for _, key := range m.keys() {
			if j, dup := seen[key]; dup {
				return nil, cniplugin.ConfigErrorf("portMappings[%d] %s: host address, port and protocol already mapped by portMappings[%d] %s",
					i, e, j, entries[j])
			}
			seen[key] = i
		}
		out = append(out, m)
	}
	return out, nil
}

func parseMapping(e portMapEntry) (mapping, error) {
	m := mapping{entry: e, protocol: strings.ToLower(e.Protocol)}
	if e.HostPort < 1 || e.HostPort > 65535 {
		return m, fmt.Errorf("hostPort %d out of range 1-65535", e.HostPort)
	}
	if e.ContainerPort < 1 || e.ContainerPort > 65535 {
		return m, fmt.Errorf("containerPort %d out of range 1-65535", e.ContainerPort)
	}
	m.hostPort, m.contPort = uint16(e.HostPort), uint16(e.ContainerPort)
	switch m.protocol {
	case "tcp", "udp", "sctp":
	case "":
		m.protocol = "tcp" // Kubernetes' default; CONVENTIONS.md examples always set it
	default:
		return m, fmt.Errorf("protocol %q: want tcp, udp or sctp", e.Protocol)
	}
	if e.HostIP != "" {
		a, err := netip.ParseAddr(e.HostIP)
		if err != nil || a.Zone() != "" {
			return m, fmt.Errorf("hostIP %q is not an IP address", e.HostIP)
		}
		a = a.Unmap()
		m.hostIP, m.family = a, 4
		if a.Is6() {
			m.family = 6
		}
	}
	return m, nil
}

// keys are the (family, host address, protocol, port) slots the mapping
// takes; two mappings of one pod may not share one.
func (m mapping) keys() []string {
	host := "*"
	if m.hostIP.IsValid() && !m.hostIP.IsUnspecified() {
		host = m.hostIP.String()
	}
	var keys []string
	for _, fam := range []int{4, 6} {
		if m.family == 0 || m.family == fam {
			keys = append(keys, fmt.Sprintf("%d %s %s %d", fam, host, m.protocol, m.hostPort))
		}
	}
	return keys
}
