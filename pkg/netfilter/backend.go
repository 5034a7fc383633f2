// Package netfilter is podnet's one firewall package: masquerade (bridge,
// vxlan) and host-port DNAT (portmap), each with an nftables and an iptables
// backend. Plugins never import go-iptables or knftables themselves.
//
// nftables state lives in tables podnet owns, changed in one transaction per
// call; iptables state is written with one iptables-restore --noflush per
// family per call. See the feature files (masq_*.go, hostport_*.go) for the
// objects each feature owns.
package netfilter

import (
	"context"
	"fmt"
	"os/exec"

	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Backend names a netfilter implementation, as in the ipMasqBackend and
// backend config keys.
type Backend string

// The backends podnet supports.
const (
	IPTables Backend = "iptables"
	NFTables Backend = "nftables"
)

// ParseBackend validates a backend config value. key names the config key
// for the error message. The empty string means "choose automatically" and
// is returned as is.
func ParseBackend(key, value string) (Backend, error) {
	switch Backend(value) {
	case "", IPTables, NFTables:
		return Backend(value), nil
	}
	return "", cniplugin.ConfigErrorf("%s %q: want %q or %q", key, value, IPTables, NFTables)
}

// Choose resolves an empty backend to the node's default: nftables when the
// kernel and the nft tool work here, else iptables. A non-empty backend is
// returned unchanged.
func Choose(b Backend) Backend {
	if b != "" {
		return b
	}
	if NFTablesUsable() == nil {
		return NFTables
	}
	return IPTables
}

// Usable reports why a backend cannot be used in the current network
// namespace, or nil when it can.
func Usable(b Backend) error {
	switch b {
	case NFTables:
		return NFTablesUsable()
	case IPTables:
		return IPTablesUsable()
	}
	return fmt.Errorf("unknown netfilter backend %q", b)
}

// NFTablesUsable checks that the nft tool runs, is v1.0.1 or later, and that
// the kernel accepts a (checked, not committed) transaction from us.
func NFTablesUsable() error {
	if _, err := knftables.New(knftables.InetFamily, "podnet_probe"); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}

// IPTablesUsable checks that iptables (and ip6tables) can read the nat table.
func IPTablesUsable() error {
	for _, tool := range []string{"iptables", "ip6tables"} {
		if out, err := exec.CommandContext(context.Background(), tool, "-w", xtablesWait, "-t", "nat", "-S", "POSTROUTING").CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", tool, err, out)
		}
	}
	return nil
}
