package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// ipamNet and ipamSubnet are the ipam scenario's network: a /16 holds the
// 10,000 reservations and the measured ones.
const (
	ipamNet    = "pnb-ipam"
	ipamSubnet = "10.90.0.0/16"
)

// ipamScenario measures host-local alone (no bridge) with the store already
// holding 10, 1,000 and 10,000 reservations of other containers.
func ipamScenario() scenario {
	return scenario{
		name:  "ipam",
		needs: []string{"host-local"},
		describe: func(o Options) string {
			return fmt.Sprintf("host-local alone, %d ADDs then %d DELs with %v reservations already in the store", o.IPAMOps, o.IPAMOps, o.IPAMLevels)
		},
		run: runIPAM,
	}
}

// ipamTimes are one set's per-level ADD and DEL durations.
type ipamTimes struct{ add, del [][]time.Duration }

func runIPAM(ctx context.Context, e *env, res *Result) error {
	p, err := newPair(e, "ipam", func(_ int, n *Node) ([]byte, error) {
		return HostLocalConfList(ipamNet, ipamSubnet, n.DataDir)
	})
	if err != nil {
		return err
	}
	defer p.close(ctx)
	var sandboxes [2]*Pod
	for i := range p.nodes {
		if sandboxes[i], err = p.newPod(i, 0, nil); err != nil {
			return err
		}
		defer e.nss.Delete(sandboxes[i].NS)
		if err := p.ipamOp(ctx, i, sandboxes[i], 0, nil, nil); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		if p.base[i], err = takeSnapshot(p.nodes[i]); err != nil {
			return err
		}
	}
	var t [2]ipamTimes
	filled := [2][]string{}
	for _, level := range e.opts.IPAMLevels {
		for i, n := range p.nodes {
			more, err := fillStore(filepath.Join(n.DataDir, ipamNet), len(filled[i]), level)
			if err != nil {
				return err
			}
			filled[i] = append(filled[i], more...)
		}
		if err := p.ipamLevel(ctx, sandboxes, filled, &t); err != nil {
			return fmt.Errorf("at %d reservations: %w", level, err)
		}
		e.logf("ipam: %d reservations done", level)
	}
	for i, n := range p.nodes {
		for _, ip := range filled[i] {
			if err := os.Remove(filepath.Join(n.DataDir, ipamNet, ip)); err != nil {
				return fmt.Errorf("remove pre-filled reservation: %w", err)
			}
		}
	}
	if err := p.checkLeaks(res); err != nil {
		return err
	}
	res.Tables = ipamTables(e.opts.IPAMLevels, t)
	return nil
}

// ipamLevel measures IPAMOps interleaved ADDs, then the DELs, on both nodes,
// and checks no ADD hands out a pre-filled address and the store holds
// exactly the pre-filled ones afterwards.
func (p *pair) ipamLevel(ctx context.Context, sandboxes [2]*Pod, filled [2][]string, t *[2]ipamTimes) error {
	ops := p.e.opts.IPAMOps
	ids := make([]string, ops)
	for k := range ids {
		ids[k] = randomID()
	}
	var add, del [2][]time.Duration
	for i := range p.nodes {
		add[i], del[i] = make([]time.Duration, ops), make([]time.Duration, ops)
	}
	taken := [2]map[string]bool{setOf(filled[0]), setOf(filled[1])}
	for k := 0; k < ops; k++ {
		for _, n := range p.e.order(k, p.nodes) {
			i := p.index(n)
			if err := p.ipamOp(ctx, i, sandboxes[i], k+1, &add[i][k], taken[i]); err != nil {
				return err
			}
		}
	}
	for k := ops - 1; k >= 0; k-- {
		for _, n := range p.e.order(k, p.nodes) {
			i := p.index(n)
			pod := &Pod{NS: sandboxes[i].NS, ContainerID: podID(sandboxes[i], k+1), Index: k + 1}
			d, err := n.Del(ctx, p.lists[i], pod)
			if err != nil {
				return err
			}
			del[i][k] = d
		}
	}
	for i, n := range p.nodes {
		now, err := reservations(filepath.Join(n.DataDir, ipamNet))
		if err != nil {
			return err
		}
		if left := diff("reservations", filled[i], now); len(left) > 0 {
			return fmt.Errorf("%s: store after DEL differs from the pre-filled one: %v", n.Set.Name, truncate(left))
		}
		t[i].add, t[i].del = append(t[i].add, add[i]), append(t[i].del, del[i])
	}
	return nil
}

// ipamOp ADDs attachment k of the sandbox; with dur it records the time and,
// with taken, fails when the address is already reserved by someone else.
// Without dur (warm-up) it DELs the attachment again.
func (p *pair) ipamOp(ctx context.Context, i int, sandbox *Pod, k int, dur *time.Duration, taken map[string]bool) error {
	n := p.nodes[i]
	pod := &Pod{NS: sandbox.NS, ContainerID: podID(sandbox, k), Index: k}
	r, d, err := n.Add(ctx, p.lists[i], pod)
	if err != nil {
		return err
	}
	ip := firstIP(r)
	if ip == "" || taken[ip] {
		return fmt.Errorf("%s: host-local ADD %d returned %q, which is empty or already reserved", n.Set.Name, k, ip)
	}
	if dur == nil {
		_, err := n.Del(ctx, p.lists[i], pod)
		return err
	}
	*dur = d
	taken[ip] = true
	return nil
}

// podID derives attachment k's container ID from the sandbox's.
func podID(sandbox *Pod, k int) string {
	return fmt.Sprintf("%s%08x", sandbox.ContainerID[:56], k)
}

// fillStore writes reservations have+1..want into a host-local store the way
// host-local v1.9.1 does (one file per address holding "<id>\r\n<ifname>",
// mode 0600, and the round-robin cursor last_reserved_ip.0), starting at
// .2 of the subnet (.1 is the gateway). It returns the new file names.
func fillStore(dir string, have, want int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create store %s: %w", dir, err)
	}
	ip := netip.MustParsePrefix(ipamSubnet).Addr().Next()
	for k := 0; k <= have; k++ {
		ip = ip.Next()
	}
	var names []string
	for k := have; k < want; k++ {
		name := ip.String()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(randomID()+"\r\neth0"), 0o600); err != nil {
			return nil, fmt.Errorf("pre-fill reservation %s: %w", name, err)
		}
		names = append(names, name)
		ip = ip.Next()
	}
	if len(names) > 0 {
		last := names[len(names)-1]
		if err := os.WriteFile(filepath.Join(dir, "last_reserved_ip.0"), []byte(last), 0o600); err != nil {
			return nil, fmt.Errorf("write cursor: %w", err)
		}
	}
	return names, nil
}

func ipamTables(levels []int, t [2]ipamTimes) []Table {
	tab := Table{Title: "host-local latency by reservations already in the store", Unit: "ms", Columns: [2]string{"ours", "reference"}}
	for j, l := range levels {
		if j >= len(t[0].add) || j >= len(t[1].add) {
			break
		}
		tab.Rows = append(tab.Rows,
			newRow(fmt.Sprintf("ADD at %d", l), Summarize(ms(t[0].add[j])), Summarize(ms(t[1].add[j]))),
			newRow(fmt.Sprintf("DEL at %d", l), Summarize(ms(t[0].del[j])), Summarize(ms(t[1].del[j]))))
	}
	return []Table{tab}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setOf(s []string) map[string]bool {
	m := make(map[string]bool, len(s))
	for _, v := range s {
		m[v] = true
	}
	return m
}

func truncate(s []string) []string {
	sort.Strings(s)
	if len(s) > maxLeftovers {
		return append(s[:maxLeftovers], fmt.Sprintf("... and %d more", len(s)-maxLeftovers))
	}
	return s
}
