package netfilter

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func newTestHPIPT() (*hpIPTables, *hpFakeIPT, *hpFakeSysctl) {
	f := newHPFakeIPT()
	sys := &hpFakeSysctl{on: map[string]bool{"cni0": false}}
	return &hpIPTables{r: f, sysctl: sys, log: slog.New(slog.DiscardHandler)}, f, sys
}

func TestHostPortIPTAddInputGolden(t *testing.T) {
	spec := hpSpecDual(1)
	hpGolden(t, "ipt-add-v4", hpIPTAddInput(&spec, false, "cni0"))
	hpGolden(t, "ipt-add-v6", hpIPTAddInput(&spec, true, ""))
	ext := HostPortSpec{Owner: hpOwner(2), SNAT: true, MasqAll: true, ExternalSetMarkChain: "KUBE-MARK-MASQ",
		Mappings:     []HostPort{hpMap("tcp", "", 443, "10.1.0.3", 8443), hpMap("udp", "192.0.2.10", 53, "10.1.0.3", 53)},
		ConditionsV4: []string{"!", "-i", "eth9", "-m", "comment", "--comment", "a comment"}}
	hpGolden(t, "ipt-add-external-mark", hpIPTAddInput(&ext, false, ""))
	var many HostPortSpec
	many.Owner = hpOwner(3)
	for p := uint16(1000); p < 1020; p++ {
		many.Mappings = append(many.Mappings, hpMap("tcp", "", p, "10.1.0.4", 80))
	}
	if n := len(hpIPTJumps(&many, false)); n != 2 {
		t.Fatalf("20 ports gave %d multiport jumps, want 2 (15 ports each at most)", n)
	}
}

func TestHostPortIPTEnsureCheckDelete(t *testing.T) {
	ctx := context.Background()
	h, f, sys := newTestHPIPT()
	pristine := f.dumpAll()
	if err := h.EnsureHostPorts(ctx, hpSpecDual(1)); err != nil {
		t.Fatal(err)
	}
	hpGolden(t, "ipt-one-pod", f.dumpAll())
	if !sys.on["cni0"] {
		t.Fatal("route_localnet of cni0 not turned on")
	}
	if err := h.CheckHostPorts(ctx, hpSpecDual(1)); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	// The next ADD is the hot path: one restore per family, no save.
	saves, restores := f.saves, len(f.restores)
	second := hpSpecN(2)
	second.Mappings = append(second.Mappings, hpMap("tcp", "", 7777, "fd00:1::9", 77))
	if err := h.EnsureHostPorts(ctx, second); err != nil {
		t.Fatal(err)
	}
	if f.saves != saves || len(f.restores) != restores+2 {
		t.Fatalf("second ADD: %d saves and %d restores, want 0 and 2", f.saves-saves, len(f.restores)-restores)
	}
	// DEL: a save and a restore per family; again: saves only.
	removed, err := h.DeleteHostPorts(ctx, hpOwner(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := hpMappingStrings(removed); got != "sctp *:9999 -> 10.1.0.2:9999, tcp *:8080 -> 10.1.0.2:80, tcp *:8080 -> [fd00:1::2]:80, udp 192.0.2.10:5353 -> 10.1.0.2:53" {
		t.Fatalf("DEL returned %s", got)
	}
	hpGolden(t, "ipt-after-del", f.dumpAll())
	restores = len(f.restores)
	if _, err := h.DeleteHostPorts(ctx, hpOwner(1), nil); err != nil || len(f.restores) != restores {
		t.Fatalf("repeated DEL: err %v, %d restores", err, len(f.restores)-restores)
	}
	if err := h.CheckHostPorts(ctx, hpSpecDual(1)); err == nil || !strings.Contains(err.Error(), "is missing") {
		t.Fatalf("CHECK after DEL = %v", err)
	}
	if err := h.CheckHostPorts(ctx, second); err != nil {
		t.Fatalf("CHECK of the remaining pod: %v", err)
	}
	// GC without valid attachments: back to the pristine tables.
	if _, err := h.GCHostPorts(ctx, "mynet", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.dumpAll(); got != pristine {
		t.Fatalf("GC left state behind:\n%s", got)
	}
	if sys.on["cni0"] {
		t.Fatal("GC left route_localnet on after removing the drop rule")
	}
}

func TestHostPortIPTCheckDetectsTampering(t *testing.T) {
	ctx := context.Background()
	h, f, _ := newTestHPIPT()
	spec := hpSpecDual(1)
	if err := h.EnsureHostPorts(ctx, spec); err != nil {
		t.Fatal(err)
	}
	chain := hpIPTPodChain(spec.Owner)
	rules := f.tables[IPv4]["nat"].chains[chain]
	f.tables[IPv4]["nat"].chains[chain] = rules[1:]
	if err := h.CheckHostPorts(ctx, spec); err == nil || !strings.Contains(err.Error(), chain) {
		t.Fatalf("CHECK with a missing rule = %v", err)
	}
	f.tables[IPv4]["nat"].chains[chain] = rules
	f.tables[IPv4]["nat"].chains["POSTROUTING"] = nil
	if err := h.CheckHostPorts(ctx, spec); err == nil || !strings.Contains(err.Error(), "POSTROUTING") {
		t.Fatalf("CHECK without the masquerade jump = %v", err)
	}
}

func TestHostPortIPTGCKeepsValidAndRemovesReferenceChains(t *testing.T) {
	ctx := context.Background()
	h, f, _ := newTestHPIPT()
	for _, s := range []HostPortSpec{hpSpecN(1), hpSpecN(2)} {
		if err := h.EnsureHostPorts(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	// Rules the reference plugin left for container ctr9 of mynet.
	legacy := hpIPTLegacyChain("mynet", "ctr9")
	input := "*nat\n:" + legacy + " - [0:0]\n-A " + legacy + " -p tcp -m tcp --dport 6000 -j DNAT --to-destination 10.1.0.99:60\n" +
		"-A " + hpIPTDNAT + ` -p tcp -m comment --comment "dnat name: \"mynet\" id: \"ctr9\"" -m multiport --dports 6000 -j ` + legacy + "\nCOMMIT\n"
	if err := f.Restore(ctx, IPv4, input); err != nil {
		t.Fatal(err)
	}
	removed, err := h.GCHostPorts(ctx, "mynet", []HostPortOwner{hpOwner(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := hpMappingStrings(removed); got != "tcp *:10001 -> 10.1.0.3:80, tcp *:6000 -> 10.1.0.99:60, udp *:20001 -> 10.1.0.3:53" {
		t.Fatalf("GC removed %s", got)
	}
	if err := h.CheckHostPorts(ctx, hpSpecN(2)); err != nil {
		t.Fatalf("GC broke a valid pod: %v", err)
	}
	if _, ok := f.tables[IPv4]["nat"].chains[legacy]; ok {
		t.Fatal("GC kept the reference plugin's chain of a dead container")
	}
	// DEL also removes a reference chain of the same network and container.
	if err := f.Restore(ctx, IPv4, input); err != nil {
		t.Fatal(err)
	}
	if _, err := h.DeleteHostPorts(ctx, HostPortOwner{Network: "mynet", ContainerID: "ctr9", IfName: "eth0"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := f.tables[IPv4]["nat"].chains[legacy]; ok {
		t.Fatal("DEL kept the reference plugin's chain")
	}
}

func TestHostPortIPTSplitArgs(t *testing.T) {
	got := hpSplitArgs(`-p tcp -m comment --comment "dnat name: \"n\" id: \"c\"" -j X`)
	want := []string{"-p", "tcp", "-m", "comment", "--comment", `dnat name: "n" id: "c"`, "-j", "X"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("split = %q", got)
	}
}

func BenchmarkHostPortIPTPlanAdd(b *testing.B) {
	spec := hpSpecDual(1)
	for i := 0; i < b.N; i++ {
		_ = hpIPTAddInput(&spec, false, "")
		_ = hpIPTAddInput(&spec, true, "")
	}
}
