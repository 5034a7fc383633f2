package bench

import (
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/libcni"
)

// cniVersion is the version of every config the benchmark sends, the one
// containerd 2.x writes.
const cniVersion = "1.1.0"

// BridgeNet describes the bridge network of a scenario: the same JSON goes
// to both plugin sets, only DataDir differs.
type BridgeNet struct {
	// Name is the network name (libcni cache key, host-local store dir).
	Name string
	// Bridge is the bridge device in the node namespace.
	Bridge string
	// Subnet is the host-local range, e.g. "10.88.0.0/16".
	Subnet string
	// DataDir is host-local's store root.
	DataDir string
	// Backend, when set, turns on ipMasq with ipMasqBackend=Backend, and is
	// portmap's backend too. Empty: no masquerade.
	Backend string
	// PortMap chains portmap after bridge.
	PortMap bool
}

// ConfList renders the conflist: bridge (isGateway, default route) with
// host-local, then portmap when asked, as containerd's default config.
func (b BridgeNet) ConfList() ([]byte, error) {
	bridge := map[string]any{
		"type":      "bridge",
		"bridge":    b.Bridge,
		"isGateway": true,
		"ipam":      hostLocalIPAM(b.Subnet, b.DataDir, true),
	}
	if b.Backend != "" {
		bridge["ipMasq"] = true
		bridge["ipMasqBackend"] = b.Backend
	}
	plugins := []any{bridge}
	if b.PortMap {
		pm := map[string]any{
			"type":         "portmap",
			"capabilities": map[string]bool{"portMappings": true},
		}
		if b.Backend != "" {
			pm["backend"] = b.Backend
		}
		plugins = append(plugins, pm)
	}
	return confList(b.Name, plugins)
}

// hostLocalIPAM is the ipam object for one IPv4 range.
func hostLocalIPAM(subnet, dataDir string, defaultRoute bool) map[string]any {
	ipam := map[string]any{
		"type":    "host-local",
		"ranges":  [][]map[string]string{{{"subnet": subnet}}},
		"dataDir": dataDir,
	}
	if defaultRoute {
		ipam["routes"] = []map[string]string{{"dst": "0.0.0.0/0"}}
	}
	return ipam
}

// HostLocalConfList runs host-local alone as the only plugin of a list, as
// the ipam scenario measures it.
func HostLocalConfList(name, subnet, dataDir string) ([]byte, error) {
	return confList(name, []any{map[string]any{
		"type": "host-local",
		"ipam": hostLocalIPAM(subnet, dataDir, false),
	}})
}

// LoopbackConfList is the loopback network containerd (go-cni) sets up in
// every pod before the default network.
func LoopbackConfList() ([]byte, error) {
	return confList("cni-loopback", []any{map[string]any{"type": "loopback"}})
}

func confList(name string, plugins []any) ([]byte, error) {
	b, err := json.Marshal(map[string]any{
		"cniVersion": cniVersion,
		"name":       name,
		"plugins":    plugins,
	})
	if err != nil {
		return nil, fmt.Errorf("render conflist %q: %w", name, err)
	}
	return b, nil
}

// parseList turns rendered JSON into what libcni executes.
func parseList(b []byte, err error) (*libcni.NetworkConfigList, error) {
	if err != nil {
		return nil, err
	}
	l, err := libcni.ConfListFromBytes(b)
	if err != nil {
		return nil, fmt.Errorf("parse conflist %s: %w", b, err)
	}
	return l, nil
}
