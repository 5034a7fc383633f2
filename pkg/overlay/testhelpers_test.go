package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// testUnderlay is node0 of a three-node cluster on 192.0.2.0/24.
var testUnderlay = Underlay{
	VTEPIP:   netip.MustParseAddr("192.0.2.10"),
	Device:   "eth0",
	MTU:      1500,
	Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")},
}

func peer(vtep, subnet string) Peer {
	return Peer{VTEPIP: netip.MustParseAddr(vtep), Subnet: netip.MustParsePrefix(subnet)}
}

// testConfig is node0's config: subnet 10.244.0.0/24, peers node0..node2.
func testConfig() *Config {
	return &Config{
		Name: "overlay", VNI: 1, Port: 4789, Device: "podnet.1",
		Network: netip.MustParsePrefix("10.244.0.0/16"),
		Subnet:  netip.MustParsePrefix("10.244.0.0/24"),
		Peers: MergePeers([]Peer{
			peer("192.0.2.10", "10.244.0.0/24"),
			peer("192.0.2.11", "10.244.1.0/24"),
			peer("192.0.2.12", "10.244.2.0/24"),
		}),
		DataDir: "/nonexistent",
	}
}

// golden compares text with want, both trimmed of surrounding blank lines.
func golden(t *testing.T, what, got, want string) {
	t.Helper()
	got, want = strings.TrimSpace(got), strings.TrimSpace(want)
	if got != want {
		t.Fatalf("%s:\n--- got\n%s\n--- want\n%s", what, got, want)
	}
}

// plan returns the ops that converge k to cfg.
func plan(t *testing.T, k *FakeKernel, cfg *Config) []Op {
	t.Helper()
	want, err := Desired(cfg, k.UL)
	if err != nil {
		t.Fatal(err)
	}
	have, err := k.Read(cfg.Device, cfg.Network)
	if err != nil {
		t.Fatal(err)
	}
	return Diff(want, have)
}

// converge applies the plan to k and checks that a second plan is empty.
func converge(t *testing.T, k *FakeKernel, cfg *Config) []Op {
	t.Helper()
	ops := plan(t, k, cfg)
	for _, op := range ops {
		if err := k.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
	if again := plan(t, k, cfg); len(again) != 0 {
		t.Fatalf("not converged; second plan:\n%s", Lines(again))
	}
	return ops
}

// dump renders the fake kernel state in ip/bridge style, sorted.
func dump(s *State) string {
	var lines []string
	if d := s.Device; d != nil {
		csum := "?"
		if d.TxChecksum != nil {
			csum = onOff(*d.TxChecksum)
		}
		lines = append(lines, fmt.Sprintf("link %s %s vni %d port %d local %s dev %s mac %s mtu %d up %t csum %s",
			d.Name, d.Kind, d.VNI, d.Port, d.Local, d.Underlay, d.MAC, d.MTU, d.Up, csum))
	}
	for _, a := range sortedPrefixes(s.Addrs) {
		lines = append(lines, "addr "+a.String())
	}
	for _, ip := range sortedAddrKeys(s.Neighs) {
		lines = append(lines, fmt.Sprintf("neigh %s lladdr %s", ip, s.Neighs[ip].MAC))
	}
	for _, mac := range sortedKeys(s.FDB) {
		lines = append(lines, fmt.Sprintf("fdb %s dst %s", mac, s.FDB[mac].Dst))
	}
	for _, dst := range sortedPrefixKeys(s.Routes) {
		lines = append(lines, "route "+s.Routes[dst].String())
	}
	return strings.Join(lines, "\n")
}

// fakeMasq is a netfilter.Masquerader that records calls and keeps the
// covered subnets per owner.
type fakeMasq struct {
	rules map[string][]netip.Prefix
	calls []string
	fail  error
}

func newFakeMasq() *fakeMasq { return &fakeMasq{rules: map[string][]netip.Prefix{}} }

func (m *fakeMasq) EnsureMasquerade(_ context.Context, owner string, subnets []netip.Prefix) error {
	m.calls = append(m.calls, fmt.Sprintf("ensure %s %v", owner, subnets))
	if m.fail != nil {
		return m.fail
	}
	for _, s := range subnets {
		if !slices.Contains(m.rules[owner], s) {
			m.rules[owner] = append(m.rules[owner], s)
		}
	}
	return nil
}

func (m *fakeMasq) CheckMasquerade(_ context.Context, owner string, subnets []netip.Prefix) error {
	m.calls = append(m.calls, fmt.Sprintf("check %s %v", owner, subnets))
	for _, s := range subnets {
		if !slices.Contains(m.rules[owner], s) {
			return fmt.Errorf("masquerade rule for %s of %q missing", s, owner)
		}
	}
	return nil
}

func (m *fakeMasq) DeleteMasquerade(_ context.Context, owner string) error {
	m.calls = append(m.calls, "delete "+owner)
	delete(m.rules, owner)
	return nil
}
