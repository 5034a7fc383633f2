package overlay

import (
	"net/netip"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Desired is the state cfg wants on a node whose underlay is ul: the
// device, its one address, and per remote peer a neighbor, an FDB entry and
// an onlink route (or, with directRouting, one route via the peer's vtepIP
// on the underlay). The peer whose vtepIP is this node's is skipped.
// cfg must be validated and have a Subnet. Errors are code 7.
func Desired(cfg *Config, ul Underlay) (*State, error) {
	if err := checkUnderlay(cfg, ul); err != nil {
		return nil, err
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = ul.MTU - ul.Overhead()
		if mtu < minMTU(cfg.Network) {
			return nil, cniplugin.ConfigErrorf("mtu: underlay %q has MTU %d, too small for VXLAN (overhead %d); set mtu", ul.Device, ul.MTU, ul.Overhead())
		}
	}
	csum := cfg.TxChecksumOffload
	s := NewState()
	s.Device = &Device{
		Name: cfg.Device, Kind: "vxlan", VNI: cfg.VNI, Port: cfg.Port,
		Local: ul.VTEPIP, Underlay: ul.Device, MAC: VTEPMAC(ul.VTEPIP).String(),
		MTU: mtu, Up: true, TxChecksum: &csum,
	}
	s.Addrs = []netip.Prefix{HostPrefix(FirstAddr(cfg.Subnet))}
	for _, p := range cfg.Peers {
		if p.VTEPIP == ul.VTEPIP {
			continue
		}
		if cfg.DirectRouting && ul.direct(p.VTEPIP, cfg.Network) {
			s.Routes[p.Subnet] = Route{Dst: p.Subnet, Via: p.VTEPIP, Dev: ul.Device}
			continue
		}
		if err := addPeer(s, cfg.Device, p); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// addPeer adds the neighbor, FDB entry and route of an encapsulated peer.
func addPeer(s *State, dev string, p Peer) error {
	gw := FirstAddr(p.Subnet)
	mac := VTEPMAC(p.VTEPIP).String()
	if other, ok := s.FDB[mac]; ok {
		return cniplugin.ConfigErrorf("peers: vtepIPs %s and %s map to the same VTEP MAC %s; renumber one", other.Dst, p.VTEPIP, mac)
	}
	s.Neighs[gw] = Neigh{IP: gw, MAC: mac}
	s.FDB[mac] = FDB{MAC: mac, Dst: p.VTEPIP}
	s.Routes[p.Subnet] = Route{Dst: p.Subnet, Via: gw, Dev: dev, Onlink: true}
	return nil
}

// checkUnderlay validates cfg against the resolved underlay: a Subnet is
// known, this node's own peer entry agrees with it, and every peer's vtepIP
// has this node's family (one device speaks one underlay family).
func checkUnderlay(cfg *Config, ul Underlay) error {
	if !cfg.Subnet.IsValid() {
		return cniplugin.ConfigErrorf("subnet: not set and not derivable; set subnet, or chain vxlan after a plugin whose result has a pod address inside network %s", cfg.Network)
	}
	withSelf := *cfg
	withSelf.VTEPIP = ul.VTEPIP
	if err := withSelf.checkSelf(); err != nil {
		return err
	}
	for _, p := range cfg.Peers {
		if p.VTEPIP.Is4() != ul.VTEPIP.Is4() {
			return cniplugin.ConfigErrorf("peers: vtepIP %s is not the family of this node's vtepIP %s", p.VTEPIP, ul.VTEPIP)
		}
	}
	return nil
}
