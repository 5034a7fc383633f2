package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// stormScenario runs StormSize concurrent pod ADDs, then as many concurrent
// DELs, StormRounds times per set; the sets take turns round by round.
func stormScenario(name, backend string) scenario {
	return scenario{
		name:  name,
		needs: []string{"bridge", "host-local", "portmap", "loopback"},
		describe: func(o Options) string {
			return fmt.Sprintf("%d concurrent ADDs then %d concurrent DELs, %d rounds; bridge (ipMasq) + host-local + portmap on %s", o.StormSize, o.StormSize, o.StormRounds, backend)
		},
		run: func(ctx context.Context, e *env, res *Result) error {
			return runStorm(ctx, e, res, name, backend)
		},
	}
}

// stormTimes are one set's figures: wall time per round and per-op times.
type stormTimes struct {
	addWall, delWall []time.Duration
	add, del         []time.Duration
}

func runStorm(ctx context.Context, e *env, res *Result, name, backend string) error {
	net := BridgeNet{Name: "pnb-" + sanitize(name), Bridge: "pnbr0", Subnet: "10.89.0.0/16", Backend: backend, PortMap: true}
	p, err := newBridgePair(e, "storm", net)
	if err != nil {
		return err
	}
	defer p.close(ctx)
	if _, err := p.warmUp(ctx, portMapping(0)); err != nil {
		return err
	}
	t := make([]stormTimes, len(p.nodes))
	for r := 0; r < e.opts.StormRounds; r++ {
		for _, n := range e.order(r, p.nodes) {
			i := p.index(n)
			if err := p.stormRound(ctx, i, r, &t[i]); err != nil {
				return err
			}
		}
		e.logf("%s: round %d/%d done", name, r+1, e.opts.StormRounds)
	}
	if err := p.checkLeaks(res); err != nil {
		return err
	}
	res.Tables = stormTables(e.opts.StormSize, t)
	return nil
}

// stormRound creates StormSize pods, ADDs them all at once, checks their
// addresses are distinct, then DELs them all at once.
func (p *pair) stormRound(ctx context.Context, i, round int, t *stormTimes) error {
	size := p.e.opts.StormSize
	pods := make([]*Pod, size)
	for k := range pods {
		var err error
		if pods[k], err = p.newPod(i, round*size+k+1, portMapping(k+1)); err != nil {
			return err
		}
	}
	adds, wall, err := concurrently(pods, func(pod *Pod) (time.Duration, error) {
		main, _, err := p.add(ctx, i, pod)
		return main, err
	})
	if err != nil {
		return err
	}
	t.add, t.addWall = append(t.add, adds...), append(t.addWall, wall)
	seen := map[string]bool{}
	for _, pod := range pods {
		if seen[pod.IP] {
			return fmt.Errorf("%s: round %d: address %s given to two pods", p.nodes[i].Set.Name, round+1, pod.IP)
		}
		seen[pod.IP] = true
	}
	dels, wall, err := concurrently(pods, func(pod *Pod) (time.Duration, error) {
		main, _, err := p.del(ctx, i, pod)
		return main, err
	})
	if err != nil {
		return err
	}
	t.del, t.delWall = append(t.del, dels...), append(t.delWall, wall)
	return nil
}

// concurrently runs op for every pod at once and returns each op's time and
// the wall time of the whole batch; errors are joined.
func concurrently(pods []*Pod, op func(*Pod) (time.Duration, error)) ([]time.Duration, time.Duration, error) {
	times := make([]time.Duration, len(pods))
	errs := make([]error, len(pods))
	var wg sync.WaitGroup
	start := time.Now()
	for k, pod := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			times[k], errs[k] = op(pod)
		}()
	}
	wg.Wait()
	return times, time.Since(start), errors.Join(errs...)
}

func stormTables(size int, t []stormTimes) []Table {
	tab := Table{Title: "storm: wall time per round and latency per op", Unit: "ms", Columns: [2]string{"ours", "reference"}}
	tab.Rows = append(tab.Rows,
		newRow(fmt.Sprintf("%d ADDs, wall", size), Summarize(ms(t[0].addWall)), Summarize(ms(t[1].addWall))),
		newRow(fmt.Sprintf("%d DELs, wall", size), Summarize(ms(t[0].delWall)), Summarize(ms(t[1].delWall))),
		newRow("ADD per op", Summarize(ms(t[0].add)), Summarize(ms(t[1].add))),
		newRow("DEL per op", Summarize(ms(t[0].del)), Summarize(ms(t[1].del))))
	return []Table{tab}
}
