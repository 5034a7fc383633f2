package overlay

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/netfilter"
)

// testReconciler wires a Reconciler to a fake kernel and masquerader and
// counts lock acquisitions.
func testReconciler(k *FakeKernel, m *fakeMasq) (*Reconciler, *int) {
	locks := 0
	return &Reconciler{
		Kernel: k,
		Masq:   func(netfilter.Backend) (netfilter.Masquerader, error) { return m, nil },
		Lock: func(string) (func(), error) {
			locks++
			return func() {}, nil
		},
	}, &locks
}

func TestReconcileIdempotent(t *testing.T) {
	ctx := context.Background()
	k, m := NewFakeKernel(testUnderlay), newFakeMasq()
	r, locks := testReconciler(k, m)
	cfg := testConfig()
	cfg.IPMasq = true
	ch, err := r.Reconcile(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Ops) != 10 || ch.MTU != 1450 || *locks != 1 {
		t.Fatalf("first reconcile: %d ops, mtu %d, %d locks; want 10, 1450, 1", len(ch.Ops), ch.MTU, *locks)
	}
	if got := strings.Join(m.calls, "\n"); got != "check vxlan:overlay [10.244.0.0/16]\nensure vxlan:overlay [10.244.0.0/16]" {
		t.Fatalf("masquerade calls:\n%s", got)
	}
	applied := len(k.Applied)
	ch, err = r.Reconcile(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Ops) != 0 || len(k.Applied) != applied || *locks != 1 {
		t.Fatalf("second reconcile wrote: ops %v, locks %d", Lines(ch.Ops), *locks)
	}
	if last := m.calls[len(m.calls)-1]; !strings.HasPrefix(last, "check ") || len(m.calls) != 3 {
		t.Fatalf("second reconcile masquerade calls: %v, want one more check and no ensure", m.calls)
	}
	if err := r.Check(ctx, cfg); err != nil {
		t.Fatalf("CHECK after reconcile: %v", err)
	}
}

func TestReconcileUndoOnFailure(t *testing.T) {
	ctx := context.Background()
	k, m := NewFakeKernel(testUnderlay), newFakeMasq()
	r, _ := testReconciler(k, m)
	cfg := testConfig()
	if _, err := r.Reconcile(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	before := dump(k.S)
	cfg.Peers = MergePeers(cfg.Peers, []Peer{peer("192.0.2.13", "10.244.3.0/24")})
	cfg.Peers = cfg.Peers[1:] // node1 leaves
	cfg.MTU = 1400
	k.FailOn = "ip route replace 10.244.3.0/24"
	_, err := r.Reconcile(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "reconcile overlay: ip route replace 10.244.3.0/24 via 10.244.3.0 dev podnet.1 onlink proto 77: injected failure") {
		t.Fatalf("Reconcile = %v, want the failing op named", err)
	}
	if after := dump(k.S); after != before {
		t.Fatalf("state not restored after a failed reconcile:\n--- got\n%s\n--- want\n%s", after, before)
	}

	// A later step (masquerade) failing undoes the kernel ops too.
	k.FailOn = ""
	cfg.IPMasq = true
	m.fail = errors.New("nft: boom")
	_, err = r.Reconcile(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "ensure masquerade of 10.244.0.0/16 for \"vxlan:overlay\": nft: boom") {
		t.Fatalf("Reconcile = %v, want the masquerade failure", err)
	}
	if after := dump(k.S); after != before {
		t.Fatalf("state not restored after a failed masquerade:\n--- got\n%s\n--- want\n%s", after, before)
	}
}

func TestReconcileFreshDeviceUndo(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	r, _ := testReconciler(k, newFakeMasq())
	ch, err := r.Reconcile(context.Background(), testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Undo(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := dump(k.S); got != "" {
		t.Fatalf("state after undoing a fresh overlay:\n%s", got)
	}
}

func TestReconcileCheckDrift(t *testing.T) {
	ctx := context.Background()
	k, m := NewFakeKernel(testUnderlay), newFakeMasq()
	r, _ := testReconciler(k, m)
	cfg := testConfig()
	cfg.IPMasq = true
	if _, err := r.Reconcile(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	delete(k.S.Routes, netip.MustParsePrefix("10.244.2.0/24"))
	k.S.Device.MTU = 1500
	delete(m.rules, "vxlan:overlay")
	err := r.Check(ctx, cfg)
	want := `check overlay "podnet.1": device podnet.1: mtu 1500, want 1450; route 10.244.2.0/24 missing` + "\n" +
		`check masquerade of 10.244.0.0/16 for "vxlan:overlay": masquerade rule for 10.244.0.0/16 of "vxlan:overlay" missing`
	if err == nil || err.Error() != want {
		t.Fatalf("Check = %v\nwant %s", err, want)
	}
	if k.S.Device.MTU != 1500 {
		t.Fatal("Check wrote to the kernel")
	}
}

func TestReconcileTeardown(t *testing.T) {
	ctx := context.Background()
	k, m := NewFakeKernel(testUnderlay), newFakeMasq()
	r, _ := testReconciler(k, m)
	cfg := testConfig()
	cfg.IPMasq, cfg.DirectRouting = true, true
	if _, err := r.Reconcile(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// An unrelated route on the underlay stays.
	k.S.Routes[netip.MustParsePrefix("198.51.100.0/24")] = Route{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.1"), Dev: "eth0"}
	if err := r.Teardown(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := dump(k.S); got != "route 198.51.100.0/24 via 192.0.2.1 dev eth0" {
		t.Fatalf("state after teardown:\n%s", got)
	}
	if len(m.rules) != 0 {
		t.Fatalf("masquerade rules left: %v", m.rules)
	}
	if err := r.Teardown(ctx, cfg); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
}

func TestReconcileErrors(t *testing.T) {
	ctx := context.Background()
	k := NewFakeKernel(testUnderlay)
	r := &Reconciler{Kernel: k}
	cfg := testConfig()
	cfg.IPMasq = true
	if _, err := r.Reconcile(ctx, cfg); err == nil || !strings.Contains(err.Error(), "ipMasq: masquerade is not available") {
		t.Fatalf("ipMasq without a masquerader: %v", err)
	}
	k.UnderlayErr = errors.New("vtepDevice \"eth9\": link not found")
	if _, err := r.Reconcile(ctx, testConfig()); err == nil || err.Error() != k.UnderlayErr.Error() {
		t.Fatalf("underlay error: %v", err)
	}
}

func TestTeardownLeavesForeignLink(t *testing.T) {
	k := NewFakeKernel(testUnderlay)
	k.S.Device = &Device{Name: "podnet.1", Kind: "bridge"}
	r, _ := testReconciler(k, newFakeMasq())
	if err := r.Teardown(context.Background(), testConfig()); err != nil {
		t.Fatal(err)
	}
	if k.S.Device == nil || len(k.Applied) != 0 {
		t.Fatalf("teardown touched a bridge named like the overlay: %v", Lines(k.Applied))
	}
}

func TestRemoveMasquerade(t *testing.T) {
	ctx := context.Background()
	k, m := NewFakeKernel(testUnderlay), newFakeMasq()
	r, _ := testReconciler(k, m)
	cfg := testConfig()
	cfg.IPMasq = true
	if _, err := r.Reconcile(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.IPMasq, cfg.MasqBackend = false, netfilter.NFTables
	if err := r.RemoveMasquerade(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if len(m.rules) != 0 {
		t.Fatalf("rules left: %v", m.rules)
	}
}
