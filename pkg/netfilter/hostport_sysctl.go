package netfilter

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"sync"

	"sigs.k8s.io/knftables"
)

// hpSysctl reads and writes net.ipv4.conf.<iface>.route_localnet in the
// current network namespace.
type hpSysctl interface {
	// RouteLocalnet reports the setting; an interface that does not exist
	// is an error wrapping fs.ErrNotExist.
	RouteLocalnet(iface string) (bool, error)
	// SetRouteLocalnet writes it.
	SetRouteLocalnet(iface string, on bool) error
}

// hpFakeSysctl is an in-memory hpSysctl for tests: interfaces absent from
// the map do not exist.
type hpFakeSysctl struct {
	mu sync.Mutex
	on map[string]bool
}

// RouteLocalnet is part of hpSysctl.
func (f *hpFakeSysctl) RouteLocalnet(iface string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.on[iface]
	if !ok {
		return false, fmt.Errorf("read route_localnet of %q: %w", iface, fs.ErrNotExist)
	}
	return v, nil
}

// SetRouteLocalnet is part of hpSysctl.
func (f *hpFakeSysctl) SetRouteLocalnet(iface string, on bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.on[iface]; !ok {
		return fmt.Errorf("write route_localnet of %q: %w", iface, fs.ErrNotExist)
	}
	f.on[iface] = on
	return nil
}

// hpNeedLocalnet returns the interface whose route_localnet ADD must turn
// on (with the drop rule, in the same transaction as the mappings), or ""
// when there is none or it is already on.
func hpNeedLocalnet(s hpSysctl, spec *HostPortSpec) (string, error) {
	if spec.LocalnetIface == "" {
		return "", nil
	}
	on, err := s.RouteLocalnet(spec.LocalnetIface)
	if err != nil || on {
		return "", err
	}
	return spec.LocalnetIface, nil
}

// hpResetLocalnet turns route_localnet off again on the interfaces the
// martian-drop set lists, before the set and its rule go. Interfaces that
// are gone are skipped.
func hpResetLocalnet(s hpSysctl, els []*knftables.Element, log *slog.Logger) error {
	for _, e := range els {
		if len(e.Key) != 1 {
			continue
		}
		iface, err := strconv.Unquote(e.Key[0])
		if err != nil {
			iface = e.Key[0]
		}
		if err := hpResetLocalnetOf(s, iface, log); err != nil {
			return err
		}
	}
	return nil
}

func hpResetLocalnetOf(s hpSysctl, iface string, log *slog.Logger) error {
	err := s.SetRouteLocalnet(iface, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // the interface is gone, and its setting with it
	}
	if err == nil {
		log.Info("turned route_localnet off: no host port left", "interface", iface)
	}
	return err
}
