package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// densityScenario measures what the pod count alone costs a pod's ADD and
// DEL. The seq scenarios time pod 1 and pod 250 twenty seconds apart, so
// their growth also holds whatever the machine did meanwhile: its speed
// drifts, the filesystem's recently freed inodes, the other set's pods
// coming up. Here each set has two nodes, one holding few pods and one
// holding -pods, and a probe pod is added and deleted on the four nodes in
// turn, round after round, so both densities share the machine's noise.
// Each probe gets a fresh namespace, as a real pod does. The order of the
// four nodes is shuffled every round, so no node always runs right after
// the same other node's DEL, whose teardown the kernel partly does in the
// background (ours leaves the veth's to a detached helper). A 50 ms pause
// after each probe, to let that teardown end, was tried and left the
// figures where they were (one run with it, one without).
func densityScenario() scenario {
	return scenario{
		name:  "density",
		needs: []string{"bridge", "host-local", "loopback"},
		describe: func(o Options) string {
			low, high := densityLevels(o.Pods)
			return fmt.Sprintf("bridge + host-local, no ipMasq: a probe pod added and deleted on a node holding %d pods and on one holding %d, interleaved, %d rounds", low, high, o.DensityRounds)
		},
		run: runDensity,
	}
}

// densityLevels are the pod counts of the two nodes of a set: 10 (fewer
// for small runs) and pods.
func densityLevels(pods int) (low, high int) {
	return max(1, min(10, pods/2)), pods
}

// densitySlot is one of the four nodes a probe round visits.
type densitySlot struct {
	p     *pair
	level int // 0 low, 1 high
	node  int // 0 ours, 1 reference
}

func runDensity(ctx context.Context, e *env, res *Result) error {
	low, high := densityLevels(e.opts.Pods)
	net := BridgeNet{Name: "pnb-density", Bridge: "pnbr0", Subnet: "10.88.0.0/16"}
	var pairs [2]*pair
	var filled [2][][]*Pod
	for l, n := range []int{low, high} {
		p, err := newBridgePair(e, fmt.Sprintf("density%d", n), net)
		if err != nil {
			return err
		}
		defer p.close(ctx)
		pairs[l] = p
		if _, err := p.warmUp(ctx, nil); err != nil {
			return err
		}
		if filled[l], err = p.addPods(ctx, n, nil, nil, nil); err != nil {
			return err
		}
	}
	e.logf("density: nodes hold %d and %d pods; probing", low, high)
	slots := []densitySlot{{pairs[0], 0, 0}, {pairs[1], 1, 0}, {pairs[0], 0, 1}, {pairs[1], 1, 1}}
	// add[level][node], del[level][node]
	var add, del [2][2][]time.Duration
	rng := rand.New(rand.NewPCG(1, 2)) // the same order every run
	for r := 0; r < e.opts.DensityRounds; r++ {
		rng.Shuffle(len(slots), func(a, b int) { slots[a], slots[b] = slots[b], slots[a] })
		for _, s := range slots {
			if err := stopped(ctx); err != nil {
				return err
			}
			pod, err := s.p.newPod(s.node, high+1+r, nil)
			if err != nil {
				return err
			}
			a, _, err := s.p.add(ctx, s.node, pod)
			if err != nil {
				return err
			}
			d, _, err := s.p.del(ctx, s.node, pod)
			if err != nil {
				return err
			}
			add[s.level][s.node] = append(add[s.level][s.node], a)
			del[s.level][s.node] = append(del[s.level][s.node], d)
		}
	}
	for l, p := range pairs {
		if err := p.delPods(ctx, filled[l], nil); err != nil {
			return err
		}
		if err := p.checkLeaks(res); err != nil {
			return err
		}
	}
	res.Tables = densityTables(low, high, add, del)
	return nil
}

// densityTables renders the probe's ADD and DEL latency at both pod
// counts and each set's growth: the median with high pods over the median
// with low pods.
func densityTables(low, high int, add, del [2][2][]time.Duration) []Table {
	t := Table{Title: "latency of a probe pod of the main network, by pods already on the node", Unit: "ms", Columns: [2]string{"ours", "reference"}}
	for _, op := range []struct {
		name string
		d    [2][2][]time.Duration
	}{{"ADD", add}, {"DEL", del}} {
		var p50 [2][2]float64
		for l, n := range []int{low, high} {
			o, r := Summarize(ms(op.d[l][0])), Summarize(ms(op.d[l][1]))
			p50[l] = [2]float64{o.P50, r.P50}
			t.Rows = append(t.Rows, newRow(fmt.Sprintf("%s with %d pods", op.name, n), o, r))
		}
		t.Rows = append(t.Rows, Row{
			Label:     fmt.Sprintf("%s growth, %d / %d pods", op.name, high, low),
			Ours:      growth(p50[1][0], p50[0][0]),
			Reference: growth(p50[1][1], p50[0][1]),
		})
	}
	return []Table{t}
}

// growth is the Value of high/low; empty when either has no sample.
func growth(high, low float64) Summary {
	if low == 0 || high == 0 {
		return Summary{}
	}
	return Value(high / low)
}
