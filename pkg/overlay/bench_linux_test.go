package overlay

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkReconcile100Peers measures Reconcile in-process (netlink reads,
// plan, diff; writes only when something changed) on a node with 100
// peers: the plugin's own share of an ADD, without the exec.
func BenchmarkReconcile100Peers(b *testing.B) {
	n := kernelNode(b)
	cfg := testConfig()
	cfg.DataDir = n.Dir
	cfg.Peers = []Peer{peer("192.0.2.10", "10.244.0.0/24")}
	for j := 1; j < 100; j++ {
		cfg.Peers = append(cfg.Peers, peer(fmt.Sprintf("198.18.%d.%d", j/250, j%250+1), fmt.Sprintf("10.244.%d.0/24", j)))
	}
	reconcile := func(b *testing.B, cfg *Config) {
		err := n.Do(func() error {
			_, err := (&Reconciler{Kernel: NewNetlinkKernel(), Lock: LockFile}).Reconcile(context.Background(), cfg)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reconcile(b, cfg)
	b.Run("no-change", func(b *testing.B) {
		for b.Loop() {
			reconcile(b, cfg)
		}
	})
	changed := *cfg
	changed.Peers = append([]Peer(nil), cfg.Peers...)
	b.Run("one-peer-changed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			c := cfg
			if i%2 == 1 {
				changed.Peers[1].VTEPIP = netip.MustParseAddr("198.18.200.1")
				c = &changed
			}
			reconcile(b, c)
		}
	})
}
