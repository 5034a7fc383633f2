package hostlocal

import (
	"fmt"
	"net"
	"strings"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Check verifies that a holds a reservation in every range set of c and,
// when prev is non-nil (the addresses of prevResult), that the reserved
// addresses and prev agree: every reserved address is in prev, and every
// address of prev inside one of the range sets is reserved for a.
func (p *Pool) Check(a Attachment, c *Config, prev []net.IP) error {
	if err := c.RequireRanges(); err != nil {
		return err
	}
	if err := p.lock(); err != nil {
		return err
	}
	defer p.unlock()
	held, err := p.Store.Lookup(a)
	if err == nil && len(held) == 0 {
		held, err = p.Store.Lookup(a.legacy())
	}
	if err != nil {
		return cniplugin.WithCode(cniplugin.ErrIOFailure, err)
	}
	who := fmt.Sprintf("container %q interface %q in network %q", a.ContainerID, a.IfName, c.Name)
	for i, set := range c.Ranges {
		if !anyIn(held, set) {
			return fmt.Errorf("check reservations: no address of range set %d (%s) is reserved for %s", i, set, who)
		}
	}
	if prev == nil {
		return nil
	}
	for _, h := range held {
		if !containsIP(prev, h) {
			return fmt.Errorf("check reservations: %s is reserved for %s but missing from prevResult", h, who)
		}
	}
	for _, x := range prev {
		inSets := false
		for _, set := range c.Ranges {
			inSets = inSets || set.Contains(x)
		}
		if inSets && !containsIP(held, x) {
			return fmt.Errorf("check reservations: prevResult address %s is not reserved for %s", x, who)
		}
	}
	return nil
}

// GC releases every reservation whose attachment is not in valid. A legacy
// (ID-only) reservation is kept while any valid attachment has its
// container ID. It returns what it released and every error it met.
func (p *Pool) GC(valid []Attachment) ([]Reservation, error) {
	keepAtt := make(map[Attachment]bool, len(valid))
	keepID := make(map[string]bool, len(valid))
	for _, v := range valid {
		keepAtt[v] = true
		keepID[v.ContainerID] = true
	}
	keep := func(a Attachment) bool {
		if a.IfName == "" {
			return keepID[a.ContainerID]
		}
		return keepAtt[a]
	}
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.unlock()
	removed, err := p.Store.Sweep(keep)
	if err != nil {
		return removed, cniplugin.WithCode(cniplugin.ErrIOFailure, fmt.Errorf("garbage-collect reservations: %w", err))
	}
	return removed, nil
}

// Status returns an error with code 50 when an ADD could not be served:
// the store cannot be written, or a range set of c has no free address
// (every ADD needs one address from each set). No range set is no error:
// they may come with runtimeConfig.ipRanges at ADD time.
func (p *Pool) Status(c *Config, dir string) error {
	if err := p.lock(); err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	defer p.unlock()
	if err := p.Store.Probe(); err != nil {
		return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "store %s is not writable: %w", dir, err)
	}
	if len(c.Ranges) == 0 {
		return nil
	}
	reserved, err := p.Store.Reserved()
	if err != nil {
		return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "read store %s: %w", dir, err)
	}
	var full []string
	for i, set := range c.Ranges {
		if ex, used, capa := set.exhausted(reserved); ex {
			full = append(full, fmt.Sprintf("range set %d (%s): %d of %s addresses reserved", i, set, used, capa))
		}
	}
	if len(full) > 0 {
		return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "network %q cannot serve ADD: %w: %s", c.Name, ErrExhausted, strings.Join(full, "; "))
	}
	return nil
}

func anyIn(ips []net.IP, set RangeSet) bool {
	for _, x := range ips {
		if set.Contains(x) {
			return true
		}
	}
	return false
}

func containsIP(ips []net.IP, x net.IP) bool {
	for _, y := range ips {
		if y.Equal(x) {
			return true
		}
	}
	return false
}
