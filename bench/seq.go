package bench

import (
	"context"
	"fmt"
	"time"
)

// seqScenario adds N pods one by one, then deletes them one by one (last
// added first, so pod k is always added and deleted with k pods present).
// backend "" is bridge-only: no masquerade, no portmap.
func seqScenario(name, backend string, portmap bool) scenario {
	needs := []string{"bridge", "host-local", "loopback"}
	if portmap {
		needs = append(needs, "portmap")
	}
	return scenario{
		name:  name,
		needs: needs,
		describe: func(o Options) string {
			if !portmap {
				return fmt.Sprintf("bridge + host-local, no ipMasq, %d pods added one by one, then deleted", o.Pods)
			}
			return fmt.Sprintf("bridge (ipMasq) + host-local + portmap (1 mapping/pod), backend %s, %d pods added one by one, then deleted", backend, o.Pods)
		},
		run: func(ctx context.Context, e *env, res *Result) error {
			return runSeq(ctx, e, res, name, backend, portmap)
		},
	}
}

// portMapping is the capability arg containerd sends for one container port.
func portMapping(i int) map[string]any {
	return map[string]any{"portMappings": []map[string]any{{
		"hostPort": 20000 + i, "containerPort": 80, "protocol": "tcp", "hostIP": "",
	}}}
}

// seqTimes are one set's per-pod durations, indexed by pod position - 1.
type seqTimes struct {
	add, addLo, del, delLo []time.Duration
}

func runSeq(ctx context.Context, e *env, res *Result, name, backend string, portmap bool) error {
	net := BridgeNet{Name: "pnb-" + sanitize(name), Bridge: "pnbr0", Subnet: "10.88.0.0/16", Backend: backend, PortMap: portmap}
	p, err := newBridgePair(e, "seq", net)
	if err != nil {
		return err
	}
	defer p.close(ctx)
	caps := func(k int) map[string]any {
		if portmap {
			return portMapping(k)
		}
		return nil
	}
	lines := make([][]nfCount, len(p.nodes))
	if err := p.countLines(lines); err != nil {
		return err
	}
	if _, err := p.warmUp(ctx, caps(0)); err != nil {
		return err
	}
	if err := p.countLines(lines); err != nil {
		return err
	}
	levels := lineLevels(e.opts.Pods)
	times := make([]seqTimes, len(p.nodes))
	pods, err := p.addPods(ctx, e.opts.Pods, caps, func(i int, main, lo time.Duration) {
		times[i].add = append(times[i].add, main)
		times[i].addLo = append(times[i].addLo, lo)
	}, func(k int) error {
		if k%50 == 0 {
			e.logf("%s: %d/%d pods added", name, k, e.opts.Pods)
		}
		if contains(levels, k) {
			return p.countLines(lines)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range times {
		times[i].del = make([]time.Duration, e.opts.Pods)
		times[i].delLo = make([]time.Duration, e.opts.Pods)
	}
	if err := p.delPods(ctx, pods, func(i, k int, main, lo time.Duration) {
		times[i].del[k-1], times[i].delLo[k-1] = main, lo
	}); err != nil {
		return err
	}
	if err := p.checkLeaks(res); err != nil {
		return err
	}
	res.Tables = seqTables(e.opts.Pods, times, levels, lines)
	return nil
}

// addPods adds pods 1..n on every node of the pair, interleaved (see
// env.order). caps, when set, gives pod k's capability args; added, when
// set, gets each ADD's times; after, when set, runs once pod k is on
// every node.
func (p *pair) addPods(ctx context.Context, n int, caps func(int) map[string]any, added func(i int, main, lo time.Duration), after func(k int) error) ([][]*Pod, error) {
	pods := make([][]*Pod, len(p.nodes))
	for k := 1; k <= n; k++ {
		if err := stopped(ctx); err != nil {
			return pods, err
		}
		for _, node := range p.e.order(k, p.nodes) {
			i := p.index(node)
			var c map[string]any
			if caps != nil {
				c = caps(k)
			}
			pod, err := p.newPod(i, k, c)
			if err != nil {
				return pods, err
			}
			main, lo, err := p.add(ctx, i, pod)
			if err != nil {
				return pods, err
			}
			pods[i] = append(pods[i], pod)
			if added != nil {
				added(i, main, lo)
			}
		}
		if after != nil {
			if err := after(k); err != nil {
				return pods, err
			}
		}
	}
	return pods, nil
}

// delPods deletes the pods addPods added, the last added first, so pod k
// goes with k pods present, interleaved. deleted, when set, gets each
// DEL's times with the pod's position k.
func (p *pair) delPods(ctx context.Context, pods [][]*Pod, deleted func(i, k int, main, lo time.Duration)) error {
	for k := len(pods[0]); k >= 1; k-- {
		if err := stopped(ctx); err != nil {
			return err
		}
		for _, node := range p.e.order(k, p.nodes) {
			i := p.index(node)
			main, lo, err := p.del(ctx, i, pods[i][k-1])
			if err != nil {
				return err
			}
			if deleted != nil {
				deleted(i, k, main, lo)
			}
		}
	}
	return nil
}

// countLines appends every node's netfilter line count to lines.
func (p *pair) countLines(lines [][]nfCount) error {
	for i := range p.nodes {
		l, err := p.netfilterLines(i)
		if err != nil {
			return err
		}
		lines[i] = append(lines[i], l)
	}
	return nil
}

// index returns the position of n in the pair.
func (p *pair) index(n *Node) int {
	if p.nodes[0] == n {
		return 0
	}
	return 1
}

// lineLevels are the pod counts at which the netfilter lines are counted:
// 100 and 250 when reached, and the last pod.
func lineLevels(pods int) []int {
	var out []int
	for _, l := range []int{100, 250} {
		if pods >= l {
			out = append(out, l)
		}
	}
	if len(out) == 0 || out[len(out)-1] != pods {
		out = append(out, pods)
	}
	return out
}

// seqTables renders per-op latency by pod bucket, the loopback network's
// latency, and the netfilter line counts.
func seqTables(pods int, t []seqTimes, levels []int, lines [][]nfCount) []Table {
	lat := Table{Title: "latency per pod of the main network, by pod position", Unit: "ms", Columns: [2]string{"ours", "reference"}}
	lat.Rows = bucketRows(pods, t, "ADD", " all", func(s seqTimes) []time.Duration { return s.add })
	lat.Rows = append(lat.Rows, bucketRows(pods, t, "DEL", " all", func(s seqTimes) []time.Duration { return s.del })...)
	// The loopback plugin's work does not depend on the pod count, so its
	// buckets show how much the machine alone drifted during the run.
	lo := Table{Title: "loopback network (containerd's cni-loopback) per pod, by pod position", Unit: "ms", Columns: [2]string{"ours", "reference"}}
	lo.Rows = bucketRows(pods, t, "ADD lo", "", func(s seqTimes) []time.Duration { return s.addLo })
	lo.Rows = append(lo.Rows, bucketRows(pods, t, "DEL lo", "", func(s seqTimes) []time.Duration { return s.delLo })...)
	nf := Table{Title: "netfilter lines in the node", Unit: "lines", Columns: [2]string{"ours", "reference"}}
	labels := []string{"empty node", "0 pods (after 1 ADD+DEL)"}
	for _, l := range levels {
		labels = append(labels, fmt.Sprintf("%d pods", l))
	}
	rules := Table{Title: "netfilter lines in the node, set and map elements left out", Unit: "lines", Columns: [2]string{"ours", "reference"}}
	for j, label := range labels {
		if j < len(lines[0]) && j < len(lines[1]) {
			o, r := lines[0][j], lines[1][j]
			nf.Rows = append(nf.Rows, newRow(label, Value(float64(o.lines)), Value(float64(r.lines))))
			rules.Rows = append(rules.Rows, newRow(label, Value(float64(o.withoutElements)), Value(float64(r.withoutElements))))
		}
	}
	return []Table{lat, lo, nf, rules}
}

// bucketRows are the rows of one op of both sets: one per pod bucket, then
// one over all pods, labelled name+allSuffix.
func bucketRows(pods int, t []seqTimes, name, allSuffix string, get func(seqTimes) []time.Duration) []Row {
	var rows []Row
	o, r := ms(get(t[0])), ms(get(t[1]))
	for _, b := range Buckets(pods) {
		rows = append(rows, newRow(name+" pods "+b.String(), Summarize(b.Slice(o)), Summarize(b.Slice(r))))
	}
	return append(rows, newRow(name+allSuffix, Summarize(o), Summarize(r)))
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// sanitize turns a scenario name into a network-name-safe word.
func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}
