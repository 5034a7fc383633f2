package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
	"github.com/podnet/podnet/pkg/overlay"
)

// NetConf is the vxlan plugin's network config. Every key is documented in
// README.md; pointers tell "unset" from an explicit zero.
type NetConf struct {
	types.PluginConf
	cniplugin.LogConf
	VNI               *int64            `json:"vni,omitempty"`
	Port              *int64            `json:"port,omitempty"`
	Device            string            `json:"device,omitempty"`
	VTEPIP            string            `json:"vtepIP,omitempty"`
	VTEPDevice        string            `json:"vtepDevice,omitempty"`
	Network           string            `json:"network,omitempty"`
	Subnet            string            `json:"subnet,omitempty"`
	Peers             []overlay.RawPeer `json:"peers,omitempty"`
	PeersFile         string            `json:"peersFile,omitempty"`
	MTU               int               `json:"mtu,omitempty"`
	IPMasq            bool              `json:"ipMasq,omitempty"`
	IPMasqBackend     string            `json:"ipMasqBackend,omitempty"`
	TxChecksumOffload bool              `json:"txChecksumOffload,omitempty"`
	DirectRouting     bool              `json:"directRouting,omitempty"`
	DataDir           string            `json:"dataDir,omitempty"`
	// OldAttachments is the GC attachment key before CNI spec 1.1.0 was
	// final; libcni sends both.
	OldAttachments []types.GCAttachment `json:"cni.dev/attachments,omitempty"`
}

// parseConf decodes the config; code 6 on malformed JSON.
func parseConf(stdin []byte) (*NetConf, error) {
	conf := &NetConf{}
	if err := cniplugin.DecodeConf(stdin, conf); err != nil {
		return nil, err
	}
	return conf, nil
}

// readPeers says whether overlayConfig reads peers and peersFile.
type readPeers bool

const (
	withPeers    readPeers = true
	withoutPeers readPeers = false
)

// overlayConfig validates the keys and builds the overlay config; errors
// are code 7 and name the key and value. With withPeers it reads peersFile
// and merges it with peers. subnet, when valid, is the node's subnet derived
// from prevResult or the conflist; the subnet key must agree with it.
func (n *NetConf) overlayConfig(subnet netip.Prefix, peers readPeers) (*overlay.Config, error) {
	cfg := &overlay.Config{Name: n.Name, MTU: n.MTU, IPMasq: n.IPMasq, TxChecksumOffload: n.TxChecksumOffload,
		DirectRouting: n.DirectRouting, VTEPDevice: n.VTEPDevice}
	var err error
	if cfg.VNI, err = parseVNI(n.VNI); err != nil {
		return nil, err
	}
	if cfg.Port, err = parsePort(n.Port); err != nil {
		return nil, err
	}
	if cfg.Device, err = parseDevice(n.Device, cfg.VNI); err != nil {
		return nil, err
	}
	if cfg.VTEPIP, err = parseVTEPIP(n.VTEPIP); err != nil {
		return nil, err
	}
	if err := n.parseNetwork(cfg, subnet); err != nil {
		return nil, err
	}
	if cfg.MasqBackend, err = netfilter.ParseBackend("ipMasqBackend", n.IPMasqBackend); err != nil {
		return nil, err
	}
	if cfg.DataDir, err = parseDataDir(n.DataDir); err != nil {
		return nil, err
	}
	if peers {
		if cfg.Peers, err = n.parsePeers(); err != nil {
			return nil, err
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if subnet.IsValid() && subnet != cfg.Subnet {
		return nil, cniplugin.ConfigErrorf("subnet %q: the pod's address is in %s", n.Subnet, subnet)
	}
	return cfg, nil
}

func parseVNI(v *int64) (uint32, error) {
	if v == nil {
		return overlay.DefaultVNI, nil
	}
	if *v < 1 || *v > overlay.MaxVNI {
		return 0, cniplugin.ConfigErrorf("vni %d: want 1-%d", *v, overlay.MaxVNI)
	}
	return uint32(*v), nil
}

func parsePort(v *int64) (uint16, error) {
	if v == nil {
		return overlay.DefaultPort, nil
	}
	if *v < 1 || *v > 65535 {
		return 0, cniplugin.ConfigErrorf("port %d: want 1-65535", *v)
	}
	return uint16(*v), nil
}

// parseDevice applies the default podnet.<vni> and the kernel's rules for
// interface names.
func parseDevice(name string, vni uint32) (string, error) {
	if name == "" {
		return fmt.Sprintf("podnet.%d", vni), nil
	}
	if len(name) > 15 {
		return "", cniplugin.ConfigErrorf("device %q: longer than 15 characters", name)
	}
	if name == "." || name == ".." || strings.ContainsAny(name, "/:") || strings.IndexFunc(name, unicode.IsSpace) >= 0 {
		return "", cniplugin.ConfigErrorf("device %q: not a valid interface name", name)
	}
	return name, nil
}

func parseVTEPIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || !a.Unmap().IsGlobalUnicast() {
		return netip.Addr{}, cniplugin.ConfigErrorf("vtepIP %q: not a unicast IP address", s)
	}
	return a.Unmap(), nil
}

// parseNetwork sets Network and Subnet: the subnet key, else the derived
// one.
func (n *NetConf) parseNetwork(cfg *overlay.Config, derived netip.Prefix) error {
	if n.Network == "" {
		return cniplugin.ConfigErrorf("network is required: the cluster CIDR holding every node's pod subnet")
	}
	var err error
	if cfg.Network, err = overlay.ParseSubnet("network", n.Network); err != nil {
		return err
	}
	cfg.Subnet = derived
	if n.Subnet == "" {
		return nil
	}
	cfg.Subnet, err = overlay.ParseSubnet("subnet", n.Subnet)
	return err // overlayConfig compares it with the derived subnet after Validate
}

func parseDataDir(dir string) (string, error) {
	if dir == "" {
		return overlay.DefaultDataDir, nil
	}
	if !filepath.IsAbs(dir) {
		return "", cniplugin.ConfigErrorf("dataDir %q: not an absolute path", dir)
	}
	return filepath.Clean(dir), nil
}

// parsePeers merges peers with peersFile (read now).
func (n *NetConf) parsePeers() ([]overlay.Peer, error) {
	inline, err := overlay.ParsePeers("peers", n.Peers)
	if err != nil {
		return nil, err
	}
	if n.PeersFile == "" {
		return overlay.MergePeers(inline), nil
	}
	fromFile, err := overlay.ReadPeersFile(n.PeersFile)
	if err != nil {
		return nil, err
	}
	return overlay.MergePeers(inline, fromFile), nil
}

// subnetFromResult derives the node's pod subnet from the first pod
// address inside network: the address's own prefix, as host-local hands it
// out ("10.244.1.5/24" -> 10.244.1.0/24). It returns the invalid Prefix when
// network does not parse (overlayConfig reports that).
func subnetFromResult(res *current.Result, network string) (netip.Prefix, error) {
	nw, err := netip.ParsePrefix(network)
	if err != nil {
		return netip.Prefix{}, nil
	}
	var seen []string
	for _, ip := range res.IPs {
		a, ok := netip.AddrFromSlice(ip.Address.IP)
		if !ok {
			continue
		}
		bits, _ := ip.Address.Mask.Size()
		p := netip.PrefixFrom(a.Unmap(), bits)
		if nw.Contains(p.Addr()) {
			return p.Masked(), nil
		}
		seen = append(seen, p.String())
	}
	return netip.Prefix{}, cniplugin.ConfigErrorf("prevResult: no pod address inside network %s (addresses: %s); chain vxlan after the plugin that assigns pod addresses from this node's subnet",
		nw, strings.Join(seen, ", "))
}
