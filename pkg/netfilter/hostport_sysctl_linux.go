package netfilter

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// hpProcSysctl is hpSysctl on /proc/sys; root is "/proc/sys" outside tests.
type hpProcSysctl struct{ root string }

func (p hpProcSysctl) path(iface string) string {
	return filepath.Join(p.root, "net", "ipv4", "conf", iface, "route_localnet")
}

// RouteLocalnet is part of hpSysctl.
// Equivalent to: `sysctl net.ipv4.conf.$iface.route_localnet`.
func (p hpProcSysctl) RouteLocalnet(iface string) (bool, error) {
	b, err := os.ReadFile(p.path(iface))
	if err != nil {
		return false, fmt.Errorf("read route_localnet of %q: %w", iface, err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}

// SetRouteLocalnet is part of hpSysctl.
// Equivalent to: `sysctl -w net.ipv4.conf.$iface.route_localnet=1`.
func (p hpProcSysctl) SetRouteLocalnet(iface string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(p.path(iface), []byte(v), 0o644); err != nil {
		return fmt.Errorf("set route_localnet of %q to %s: %w", iface, v, err)
	}
	return nil
}
