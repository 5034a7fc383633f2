package main

import (
	"net"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// defaultBridge is the bridge name when the config sets none, as in the
// reference.
const defaultBridge = "cni0"

// netConf is the bridge network config: every key of the reference plugin.
type netConf struct {
	types.PluginConf
	cniplugin.LogConf

	BrName       string `json:"bridge"`
	IsGW         bool   `json:"isGateway"`
	IsDefaultGW  bool   `json:"isDefaultGateway"`
	ForceAddress bool   `json:"forceAddress"`
	IPMasq       bool   `json:"ipMasq"`
	// IPMasqBackend is "iptables", "nftables" or "" (nftables when usable).
	IPMasqBackend             string       `json:"ipMasqBackend"`
	MTU                       int          `json:"mtu"`
	HairpinMode               bool         `json:"hairpinMode"`
	PromiscMode               bool         `json:"promiscMode"`
	Vlan                      int          `json:"vlan"`
	VlanTrunk                 []*vlanTrunk `json:"vlanTrunk,omitempty"`
	PreserveDefaultVlan       bool         `json:"preserveDefaultVlan"`
	MacSpoofChk               bool         `json:"macspoofchk"`
	EnableDad                 bool         `json:"enabledad"`
	DisableContainerInterface bool         `json:"disableContainerInterface"`
	PortIsolation             bool         `json:"portIsolation"`
	// KeepIPv6LinkLocal keeps the IPv6 link-local address on the pod
	// interface of an IPv4-only attachment, as the reference does; podnet
	// leaves it out by default (see linkPlan.KeepLinkLocal).
	KeepIPv6LinkLocal bool `json:"keepIPv6LinkLocal"`
	// IPAMExec forces exec delegation for ipam.type "host-local" (whose
	// default is podnet's host-local in this process): for operators who
	// put their own binary named host-local on CNI_PATH.
	IPAMExec bool `json:"ipamExec"`

	Args struct {
		Cni struct {
			Mac string `json:"mac,omitempty"`
		} `json:"cni"`
	} `json:"args"`
	RuntimeConfig struct {
		Mac string `json:"mac,omitempty"`
	} `json:"runtimeConfig"`

	// Derived by parseConf.
	backend   netfilter.Backend
	mac       net.HardwareAddr
	trunkVIDs []int
}

// vlanTrunk is one entry of vlanTrunk: a single id or a minID..maxID range.
type vlanTrunk struct {
	MinID *int `json:"minID,omitempty"`
	MaxID *int `json:"maxID,omitempty"`
	ID    *int `json:"id,omitempty"`
}

// l3 reports whether the config delegates addressing to an IPAM plugin;
// without one the bridge works in L2 mode.
func (c *netConf) l3() bool { return c.IPAM.Type != "" }

// parseConf decodes and validates the config for one call. envArgs is
// CNI_ARGS, the lowest-precedence source of the container MAC.
func parseConf(stdin []byte, envArgs string) (*netConf, error) {
	conf := &netConf{BrName: defaultBridge}
	if err := cniplugin.DecodeConf(stdin, conf); err != nil {
		return nil, err
	}
	if conf.BrName == "" {
		conf.BrName = defaultBridge
	}
	if err := conf.validate(); err != nil {
		return nil, err
	}
	backend, err := netfilter.ParseBackend("ipMasqBackend", conf.IPMasqBackend)
	if err != nil {
		return nil, err
	}
	conf.backend = backend
	if conf.trunkVIDs, err = trunkVIDs(conf.VlanTrunk); err != nil {
		return nil, err
	}
	if conf.mac, err = pickMAC(conf.RuntimeConfig.Mac, conf.Args.Cni.Mac, envArgs); err != nil {
		return nil, err
	}
	return conf, nil
}

// validate checks the keys that need no kernel to judge.
func (c *netConf) validate() error {
	if err := validateIfName("bridge", c.BrName); err != nil {
		return err
	}
	if c.IsDefaultGW {
		c.IsGW = true
	}
	if c.HairpinMode && c.PromiscMode {
		return cniplugin.ConfigErrorf("hairpinMode and promiscMode cannot both be set: promiscMode already reflects frames to their port")
	}
	if c.DisableContainerInterface && c.l3() {
		return cniplugin.ConfigErrorf("disableContainerInterface cannot be combined with ipam %q: a down interface cannot use addresses", c.IPAM.Type)
	}
	if c.Vlan < 0 || c.Vlan > 4094 {
		return cniplugin.ConfigErrorf("vlan %d: want 0 (none) to 4094", c.Vlan)
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return cniplugin.ConfigErrorf("mtu %d: want 0 (kernel default) or 68 to 65535", c.MTU)
	}
	return nil
}

// validateIfName applies the kernel's rules for a link name.
func validateIfName(key, name string) error {
	if len(name) > 15 || name == "." || name == ".." || strings.ContainsAny(name, "/: \t\n") {
		return cniplugin.ConfigErrorf("%s %q: not a valid interface name (1-15 characters, no '/', ':' or blanks)", key, name)
	}
	return nil
}

// trunkVIDs expands vlanTrunk into a sorted list of unique VLAN ids.
func trunkVIDs(trunks []*vlanTrunk) ([]int, error) {
	seen := map[int]bool{}
	var vids []int
	add := func(id int) {
		if !seen[id] {
			seen[id] = true
			vids = append(vids, id)
		}
	}
	for i, t := range trunks {
		if t == nil {
			continue
		}
		if (t.MinID == nil) != (t.MaxID == nil) {
			return nil, cniplugin.ConfigErrorf("vlanTrunk[%d]: minID and maxID must be set together", i)
		}
		if t.MinID != nil {
			lo, hi := *t.MinID, *t.MaxID
			if lo < 1 || hi > 4094 || lo > hi {
				return nil, cniplugin.ConfigErrorf("vlanTrunk[%d]: range %d-%d: want 1 <= minID <= maxID <= 4094", i, lo, hi)
			}
			for id := lo; id <= hi; id++ {
				add(id)
			}
		}
		if t.ID != nil {
			if *t.ID < 1 || *t.ID > 4094 {
				return nil, cniplugin.ConfigErrorf("vlanTrunk[%d]: id %d: want 1 to 4094", i, *t.ID)
			}
			add(*t.ID)
		}
	}
	slices.Sort(vids)
	return vids, nil
}

// pickMAC applies the reference's precedence: runtimeConfig.mac, then
// args.cni.mac, then CNI_ARGS MAC=. Nil means a kernel-chosen MAC.
func pickMAC(runtimeMAC, argsMAC, envArgs string) (net.HardwareAddr, error) {
	src, val := "runtimeConfig.mac", runtimeMAC
	if val == "" {
		src, val = "args.cni.mac", argsMAC
	}
	if val == "" {
		src, val = "CNI_ARGS MAC", envMAC(envArgs)
	}
	if val == "" {
		return nil, nil
	}
	mac, err := net.ParseMAC(val)
	if err != nil || len(mac) != 6 {
		return nil, cniplugin.ConfigErrorf("%s %q: not an Ethernet MAC address", src, val)
	}
	if mac[0]&1 == 1 {
		return nil, cniplugin.ConfigErrorf("%s %q: a multicast address cannot be an interface address", src, val)
	}
	return mac, nil
}

// envMAC returns the MAC= value of CNI_ARGS. Other keys are ignored:
// runtimes send K8S_POD_* and more, and none of them concern the bridge.
func envMAC(envArgs string) string {
	for _, pair := range strings.Split(envArgs, ";") {
		k, v, ok := strings.Cut(pair, "=")
		if ok && k == "MAC" {
			return v
		}
	}
	return ""
}
