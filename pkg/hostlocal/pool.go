package hostlocal

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// ErrExhausted marks an allocation that found no free address.
var ErrExhausted = errors.New("no IP addresses available")

// missesBeforeSnapshot is how many taken candidates the allocator tries
// one by one before it reads the whole directory once and skips the taken
// ones in memory (and can tell exhaustion without walking the range).
const missesBeforeSnapshot = 32

// Pool serves the CNI verbs for one network over a Store. Every verb holds
// the store's lock for its whole duration.
type Pool struct {
	Store Store
	// Log receives decisions the returned errors do not show; nil discards.
	Log *slog.Logger
}

func (p *Pool) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Pool) lock() error {
	if err := p.Store.Lock(); err != nil {
		return cniplugin.WithCode(cniplugin.ErrIOFailure, err)
	}
	return nil
}

// unlock logs rather than returns: by then the verb's work is done (or
// undone), and a failed stamp write only costs a rebuild next time.
func (p *Pool) unlock() {
	if err := p.Store.Unlock(); err != nil {
		p.log().Warn("unlock store", "error", err)
	}
}

// Allocate reserves one address in every range set of c for a: the
// requested IP that falls in the set, else the next free one round-robin.
// It refuses (as the reference does) to allocate from a set in which a
// already holds an address unless that address is requested. On any error
// it releases what it reserved.
func (p *Pool) Allocate(a Attachment, c *Config) (_ []*current.IPConfig, err error) {
	if err := c.RequireRanges(); err != nil {
		return nil, err
	}
	req, err := assignRequested(c)
	if err != nil {
		return nil, err
	}
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.unlock()
	held, err := p.Store.Lookup(a)
	if err != nil {
		return nil, cniplugin.WithCode(cniplugin.ErrIOFailure, err)
	}
	var taken []net.IP
	defer func() {
		if err != nil {
			p.rollback(a, taken)
		}
	}()
	var out []*current.IPConfig
	for i, set := range c.Ranges {
		addr, r, err := p.allocateIn(a, set, i, req[i], held)
		if err != nil {
			return nil, fmt.Errorf("allocate from range set %d: %w", i, err)
		}
		taken = append(taken, addr)
		out = append(out, &current.IPConfig{Address: net.IPNet{IP: addr, Mask: r.Subnet.Mask}, Gateway: r.Gateway})
	}
	return out, nil
}

func (p *Pool) rollback(a Attachment, taken []net.IP) {
	for _, addr := range taken {
		if err := p.Store.ReleaseIP(a, addr); err != nil {
			p.log().Error("release address after failed ADD", "ip", addr.String(), "error", err)
		}
	}
}

func (p *Pool) allocateIn(a Attachment, set RangeSet, idx int, want net.IP, held []net.IP) (net.IP, *Range, error) {
	if want != nil {
		r, _ := set.RangeFor(want)
		ok, err := p.Store.Reserve(a, want, idx)
		if err != nil {
			return nil, nil, cniplugin.WithCode(cniplugin.ErrIOFailure, err)
		}
		if !ok {
			return nil, nil, fmt.Errorf("requested IP address %s is not available in range set %s", want, set)
		}
		return want, r, nil
	}
	for _, h := range held {
		if set.Contains(h) {
			return nil, nil, fmt.Errorf("%s has been allocated to %s, duplicate allocation is not allowed", h, a.ContainerID)
		}
	}
	return p.allocateNext(a, set, idx)
}

// allocateNext walks the set round-robin from the last reserved address
// and reserves the first free allocatable one.
func (p *Pool) allocateNext(a Attachment, set RangeSet, idx int) (net.IP, *Range, error) {
	last, err := p.Store.LastReserved(idx)
	if err != nil {
		p.log().Info("no round-robin cursor; starting at the range start", "set", idx, "error", err)
	}
	cur := newCursor(set, last)
	var reserved map[string]struct{}
	misses := 0
	for {
		r, addr, ok := cur.next()
		if !ok {
			return nil, nil, fmt.Errorf("%w in range set: %s", ErrExhausted, set)
		}
		if !r.Allocatable(addr) {
			continue
		}
		if _, taken := reserved[string(addr)]; taken {
			continue
		}
		ok, err := p.Store.Reserve(a, addr, idx)
		if err != nil {
			return nil, nil, cniplugin.WithCode(cniplugin.ErrIOFailure, err)
		}
		if ok {
			return addr, r, nil
		}
		if misses++; misses == missesBeforeSnapshot {
			if reserved, err = p.Store.Reserved(); err != nil {
				return nil, nil, cniplugin.WithCode(cniplugin.ErrIOFailure, err)
			}
			if full, used, capa := set.exhausted(reserved); full {
				return nil, nil, fmt.Errorf("%w in range set: %s (%d of %s reserved)", ErrExhausted, set, used, capa)
			}
		}
	}
}

// assignRequested maps every requested IP to the range set holding it,
// refusing an IP in no set, two IPs for one set, and addresses that are
// never handed out (gateway, network, broadcast).
func assignRequested(c *Config) ([]net.IP, error) {
	req := make([]net.IP, len(c.Ranges))
	for _, want := range c.Requested {
		idx := -1
		for i, set := range c.Ranges {
			if set.Contains(want) {
				idx = i
				break
			}
		}
		if idx < 0 {
			return nil, cniplugin.ConfigErrorf("requested IP %s is in no range set of network %q", want, c.Name)
		}
		r, _ := c.Ranges[idx].RangeFor(want)
		switch {
		case sameIP(want, r.Gateway):
			return nil, cniplugin.ConfigErrorf("requested IP %s is the gateway of subnet %s", want, r.subnetString())
		case !r.Allocatable(want):
			return nil, cniplugin.ConfigErrorf("requested IP %s is the network or broadcast address of subnet %s", want, r.subnetString())
		case req[idx] != nil:
			return nil, cniplugin.ConfigErrorf("requested IPs %s and %s are both in range set %d (%s); one address per range set", req[idx], want, idx, c.Ranges[idx])
		}
		req[idx] = want
	}
	return req, nil
}

// Release removes every reservation of a (or its legacy, ID-only ones) and
// returns the released addresses. Nothing to release is success.
func (p *Pool) Release(a Attachment) ([]net.IP, error) {
	if err := p.lock(); err != nil {
		return nil, err
	}
	defer p.unlock()
	released, err := p.Store.Release(a)
	if err != nil {
		return released, cniplugin.WithCode(cniplugin.ErrIOFailure, err)
	}
	return released, nil
}
