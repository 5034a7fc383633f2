package netfilter

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/knftables"
)

// hpGolden compares got with testdata/hostport/<name>.golden; with
// PODNET_UPDATE_GOLDEN=1 it rewrites the file instead.
func hpGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "hostport", name+".golden")
	if os.Getenv("PODNET_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (PODNET_UPDATE_GOLDEN=1 writes it): %v", err)
	}
	if got != string(want) {
		t.Fatalf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func hpMap(proto, host string, hostPort uint16, pod string, podPort uint16) HostPort {
	m := HostPort{Protocol: proto, HostPort: hostPort, PodIP: netip.MustParseAddr(pod), PodPort: podPort}
	if host != "" {
		m.HostIP = netip.MustParseAddr(host)
	}
	return m
}

func hpOwner(n int) HostPortOwner {
	return HostPortOwner{Network: "mynet", ContainerID: fmt.Sprintf("ctr%d", n), IfName: "eth0"}
}

// hpSpecDual is a dual-stack pod with an any-address TCP port, a hostIP
// UDP port and an SCTP port, default snat.
func hpSpecDual(n int) HostPortSpec {
	v4, v6 := fmt.Sprintf("10.1.0.%d", n+1), fmt.Sprintf("fd00:1::%x", n+1)
	return HostPortSpec{
		Owner: hpOwner(n),
		Mappings: []HostPort{
			hpMap("tcp", "", 8080, v4, 80), hpMap("tcp", "", 8080, v6, 80),
			hpMap("udp", "192.0.2.10", 5353, v4, 53),
			hpMap("sctp", "", 9999, v4, 9999),
		},
		SNAT: true, MarkMasqBit: 13, LocalnetIface: "cni0",
	}
}

func newTestHPNFT() (*hpNFTables, *hpNFTFake, *hpFakeSysctl) {
	fake := newHPNFTFake()
	sys := &hpFakeSysctl{on: map[string]bool{"cni0": false}}
	return &hpNFTables{nft: fake, sysctl: sys, log: slog.New(slog.DiscardHandler)}, fake, sys
}

func TestHostPortNFTEnsureGolden(t *testing.T) {
	ctx := context.Background()
	h, fake, sys := newTestHPNFT()
	if err := h.EnsureHostPorts(ctx, hpSpecDual(1)); err != nil {
		t.Fatal(err)
	}
	hpGolden(t, "nft-one-pod", fake.Dump())
	if !sys.on["cni0"] {
		t.Fatal("route_localnet of cni0 not turned on")
	}
	if err := h.CheckHostPorts(ctx, hpSpecDual(1)); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}

	// A second pod with masqAll and conditions, a third without snat.
	second := HostPortSpec{Owner: hpOwner(2), SNAT: true, MasqAll: true,
		Mappings:     []HostPort{hpMap("tcp", "", 443, "10.1.0.3", 8443), hpMap("tcp", "", 443, "fd00:1::3", 8443)},
		ConditionsV4: []string{"iifname", "!=", `"eth9"`}, ConditionsV6: []string{"ip6", "saddr", "!=", "2001:db8::/32"}}
	third := HostPortSpec{Owner: hpOwner(3), Mappings: []HostPort{hpMap("udp", "", 53, "10.1.0.4", 53)}}
	for _, s := range []HostPortSpec{second, third} {
		if err := h.EnsureHostPorts(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	hpGolden(t, "nft-three-pods", fake.Dump())

	removed, err := h.DeleteHostPorts(ctx, hpOwner(1), hpKeys(hpSpecDual(1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := hpMappingStrings(removed); got != "sctp *:9999 -> 10.1.0.2:9999, tcp *:8080 -> 10.1.0.2:80, tcp *:8080 -> [fd00:1::2]:80, udp 192.0.2.10:5353 -> 10.1.0.2:53" {
		t.Fatalf("DEL returned %s", got)
	}
	hpGolden(t, "nft-after-del", fake.Dump())
	if err := h.CheckHostPorts(ctx, hpSpecDual(1)); err == nil || !strings.Contains(err.Error(), "tcp *:8080 -> 10.1.0.2:80") {
		t.Fatalf("CHECK after DEL = %v, want the missing mapping named", err)
	}
}

func hpMappingStrings(ms []HostPort) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.String())
	}
	sortStrings(s)
	return strings.Join(s, ", ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// countingNFT counts the transactions that reach the fake, their size, and
// the full reads (whose cost grows with the pods).
type countingNFT struct {
	*hpNFTFake
	runs, ops, reads int
}

func (c *countingNFT) Read(ctx context.Context) (*hpNFTState, error) {
	c.reads++
	return c.hpNFTFake.Read(ctx)
}

// hpKeys are the keys of spec's mappings, as DEL gets them.
func hpKeys(spec HostPortSpec) []HostPortKey {
	var out []HostPortKey
	for _, m := range spec.Mappings {
		out = append(out, HostPortKey{Protocol: m.Protocol, HostIP: m.HostIP, HostPort: m.HostPort})
	}
	return out
}

func (c *countingNFT) Run(ctx context.Context, tx *hpTx) error {
	c.runs++
	c.ops = tx.NumOperations()
	return c.hpNFTFake.Run(ctx, tx)
}

func TestHostPortNFTDeleteIsIdempotentAndCheap(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newTestHPNFT()
	c := &countingNFT{hpNFTFake: fake}
	h.nft = c
	if err := h.EnsureHostPorts(ctx, hpSpecDual(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DeleteHostPorts(ctx, hpOwner(1), nil); err != nil {
		t.Fatal(err)
	}
	runs := c.runs
	for i := 0; i < 2; i++ {
		removed, err := h.DeleteHostPorts(ctx, hpOwner(1), nil)
		if err != nil || len(removed) != 0 {
			t.Fatalf("repeated DEL: %v %v", removed, err)
		}
	}
	if c.runs != runs {
		t.Fatalf("a DEL with nothing to delete ran %d transactions", c.runs-runs)
	}
	// DEL on a node that never had host ports: no table, no transaction.
	h2, fake2, _ := newTestHPNFT()
	if _, err := h2.DeleteHostPorts(ctx, hpOwner(1), nil); err != nil || fake2.Dump() != "" {
		t.Fatalf("DEL on an empty node: %v, state %q", err, fake2.Dump())
	}
	if err := h2.EnsureHostPorts(ctx, HostPortSpec{Owner: hpOwner(1)}); err != nil || fake2.Dump() != "" {
		t.Fatalf("ADD without mappings touched netfilter: %v, state %q", err, fake2.Dump())
	}
}

// TestHostPortNFTCostIndependentOfPods checks that ADD and DEL of one pod
// write the same transaction whether 1 or 250 pods exist.
func TestHostPortNFTCostIndependentOfPods(t *testing.T) {
	ctx := context.Background()
	size := func(existing int) (add, del int) {
		h, fake, _ := newTestHPNFT()
		c := &countingNFT{hpNFTFake: fake}
		h.nft = c
		for i := 0; i < existing; i++ {
			if err := h.EnsureHostPorts(ctx, hpSpecN(i)); err != nil {
				t.Fatal(err)
			}
		}
		reads := c.reads
		if err := h.EnsureHostPorts(ctx, hpSpecN(existing)); err != nil {
			t.Fatal(err)
		}
		if c.reads != reads {
			t.Fatalf("ADD of a new pod read the whole table")
		}
		add = c.ops
		reads = c.reads
		if _, err := h.DeleteHostPorts(ctx, hpSpecN(existing).Owner, hpKeys(hpSpecN(existing))); err != nil {
			t.Fatal(err)
		}
		if c.reads != reads {
			t.Fatalf("DEL with keys read the whole table")
		}
		return add, c.ops
	}
	add1, del1 := size(1)
	add250, del250 := size(250)
	if add1 != add250 || del1 != del250 {
		t.Fatalf("transaction size grows with pods: ADD %d vs %d ops, DEL %d vs %d ops", add1, add250, del1, del250)
	}
}

// hpSpecN is pod n with one TCP and one UDP port of its own.
func hpSpecN(n int) HostPortSpec {
	ip := netip.AddrFrom4([4]byte{10, 1, byte(n / 250), byte(n%250 + 2)})
	return HostPortSpec{Owner: hpOwner(n), SNAT: true, Mappings: []HostPort{
		{Protocol: "tcp", HostPort: uint16(10000 + n), PodIP: ip, PodPort: 80},
		{Protocol: "udp", HostPort: uint16(20000 + n), PodIP: ip, PodPort: 53},
	}}
}

func TestHostPortNFTTakeoverAndReAdd(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newTestHPNFT()
	old := HostPortSpec{Owner: hpOwner(1), SNAT: true, Mappings: []HostPort{hpMap("tcp", "", 8080, "10.1.0.2", 80), hpMap("tcp", "", 9090, "10.1.0.2", 90)}}
	if err := h.EnsureHostPorts(ctx, old); err != nil {
		t.Fatal(err)
	}
	// A new pod on the old pod's IP and port (the old one was never
	// deleted): it takes the port, comments included.
	newer := HostPortSpec{Owner: hpOwner(2), SNAT: true, Mappings: []HostPort{hpMap("tcp", "", 8080, "10.1.0.2", 80)}}
	if err := h.EnsureHostPorts(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := h.CheckHostPorts(ctx, newer); err != nil {
		t.Fatalf("CHECK of the new owner: %v", err)
	}
	if err := h.CheckHostPorts(ctx, old); err == nil || !strings.Contains(err.Error(), `belongs to "mynet/eth0/ctr2"`) {
		t.Fatalf("CHECK of the old owner = %v, want the port named as taken", err)
	}
	// The old pod's late DEL removes only what is still its own.
	if _, err := h.DeleteHostPorts(ctx, hpOwner(1), nil); err != nil {
		t.Fatal(err)
	}
	if err := h.CheckHostPorts(ctx, newer); err != nil {
		t.Fatalf("the old owner's DEL broke the new owner: %v", err)
	}
	// ADD again with other mappings replaces the owner's elements.
	changed := HostPortSpec{Owner: hpOwner(2), SNAT: false, Mappings: []HostPort{hpMap("udp", "", 5000, "10.1.0.2", 50)}}
	if err := h.EnsureHostPorts(ctx, changed); err != nil {
		t.Fatal(err)
	}
	hpGolden(t, "nft-readd", fake.Dump())
}

func TestHostPortNFTCheckDetectsTampering(t *testing.T) {
	ctx := context.Background()
	h, fake, _ := newTestHPNFT()
	spec := hpSpecDual(1)
	if err := h.EnsureHostPorts(ctx, spec); err != nil {
		t.Fatal(err)
	}
	tx := fake.NewTransaction()
	tx.Flush(&knftables.Chain{Name: "prerouting"})
	if err := fake.Fake.Run(ctx, tx); err != nil {
		t.Fatal(err)
	}
	if err := h.CheckHostPorts(ctx, spec); err == nil || !strings.Contains(err.Error(), "chain inet podnet-hostport prerouting") {
		t.Fatalf("CHECK with a flushed prerouting chain = %v", err)
	}
	// The next ADD repairs the scaffolding.
	if err := h.EnsureHostPorts(ctx, hpSpecN(7)); err != nil {
		t.Fatal(err)
	}
	if err := h.CheckHostPorts(ctx, spec); err != nil {
		t.Fatalf("CHECK after the repairing ADD: %v", err)
	}
}

func TestHostPortNFTGC(t *testing.T) {
	ctx := context.Background()
	h, fake, sys := newTestHPNFT()
	other := hpSpecN(5)
	other.Owner.Network = "othernet"
	for _, s := range []HostPortSpec{hpSpecDual(1), hpSpecN(2), other} {
		if err := h.EnsureHostPorts(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Only pod 2 is still valid in mynet; othernet is not this GC's.
	removed, err := h.GCHostPorts(ctx, "mynet", []HostPortOwner{hpOwner(2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Fatalf("GC removed %v, want pod 1's four mappings", removed)
	}
	for _, s := range []HostPortSpec{hpSpecN(2), other} {
		if err := h.CheckHostPorts(ctx, s); err != nil {
			t.Fatalf("GC removed a valid owner's mappings: %v", err)
		}
	}
	if !sys.on["cni0"] {
		t.Fatal("GC turned route_localnet off while host ports remain")
	}
	if _, err := h.GCHostPorts(ctx, "othernet", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.GCHostPorts(ctx, "mynet", nil); err != nil {
		t.Fatal(err)
	}
	if d := fake.Dump(); d != "" {
		t.Fatalf("GC with no valid attachment left state behind:\n%s", d)
	}
	if sys.on["cni0"] {
		t.Fatal("GC left route_localnet on after removing the drop rule")
	}
}

func TestHostPortNFTConditionsArePerPod(t *testing.T) {
	ctx := context.Background()
	h, _, _ := newTestHPNFT()
	a := HostPortSpec{Owner: hpOwner(1), Mappings: []HostPort{hpMap("tcp", "", 80, "10.1.0.2", 80)}, ConditionsV4: []string{"iifname", `"eth1"`}}
	b := HostPortSpec{Owner: hpOwner(2), Mappings: []HostPort{hpMap("tcp", "", 81, "10.1.0.3", 80)}, ConditionsV4: []string{"iifname", `"eth2"`}}
	c := HostPortSpec{Owner: hpOwner(3), Mappings: []HostPort{hpMap("tcp", "", 82, "10.1.0.4", 80)}}
	for _, s := range []HostPortSpec{a, b, c} {
		if err := h.EnsureHostPorts(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Each pod keeps its own conditions: no last-writer-wins.
	for _, s := range []HostPortSpec{a, b, c} {
		if err := h.CheckHostPorts(ctx, s); err != nil {
			t.Fatalf("CHECK %s: %v", s.Owner.Tag(), err)
		}
	}
	st, _ := h.nft.Read(ctx)
	if st.Rules[hpCondChainName(false, a.ConditionsV4)] == nil || st.Rules[hpCondChainName(false, b.ConditionsV4)] == nil {
		t.Fatalf("missing a condition chain: %v", st.Rules)
	}
	if _, err := h.GCHostPorts(ctx, "mynet", []HostPortOwner{hpOwner(2), hpOwner(3)}); err != nil {
		t.Fatal(err)
	}
	st, _ = h.nft.Read(ctx)
	if _, ok := st.Rules[hpCondChainName(false, a.ConditionsV4)]; ok {
		t.Fatal("GC kept the condition chain of a removed pod")
	}
	if err := h.CheckHostPorts(ctx, b); err != nil {
		t.Fatal(err)
	}
}

func TestHostPortTag(t *testing.T) {
	o := HostPortOwner{Network: "mynet", ContainerID: "abc", IfName: "eth0"}
	if o.Tag() != "mynet/eth0/abc" {
		t.Fatalf("tag %q", o.Tag())
	}
	long := HostPortOwner{Network: strings.Repeat("n", 200), ContainerID: strings.Repeat("c", 300), IfName: "eth0"}
	if tag := long.Tag(); len(tag) > 128 || !hpTagOfNetwork(tag, long.Network) || hpTagOfNetwork(tag, "mynet") {
		t.Fatalf("long tag %q (%d bytes)", tag, len(tag))
	}
	odd := HostPortOwner{Network: `we"ird`, ContainerID: "abc", IfName: "eth0"}
	if strings.Contains(odd.Tag(), `"`) {
		t.Fatalf("tag with a quote: %q", odd.Tag())
	}
}

func BenchmarkHostPortNFTPlanAdd250(b *testing.B) {
	ctx := context.Background()
	h, fake, _ := newTestHPNFT()
	for i := 0; i < 250; i++ {
		if err := h.EnsureHostPorts(ctx, hpSpecN(i)); err != nil {
			b.Fatal(err)
		}
	}
	st, _ := fake.Read(ctx)
	spec := hpSpecN(250)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hpPlanNFTEnsure(&hpTx{}, st, &spec, "")
	}
}
