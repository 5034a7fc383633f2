package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// pair is a scenario's nodes, normally two, one per plugin set (index 0
// ours, 1 reference), each with its network list, the pods it has added and
// the state it started from.
type pair struct {
	e     *env
	nodes []*Node
	lists []*libcni.NetworkConfigList
	lo    *libcni.NetworkConfigList
	base  []Snapshot

	mu   sync.Mutex
	live []map[*Pod]bool
	ips  []map[string]int
}

// newPair creates a node for ours and one for the reference; render gives
// node i's main conflist (the same JSON apart from the node's own dataDir).
func newPair(e *env, role string, render func(i int, n *Node) ([]byte, error)) (*pair, error) {
	return newGroup(e, role, []PluginSet{e.opts.Ours, e.opts.Reference}, render)
}

// newBridgePair is newPair for net, each node's copy with the node's own
// dataDir.
func newBridgePair(e *env, role string, net BridgeNet) (*pair, error) {
	return newPair(e, role, func(_ int, n *Node) ([]byte, error) {
		b := net
		b.DataDir = n.DataDir
		return b.ConfList()
	})
}

// newGroup creates one node per set.
func newGroup(e *env, role string, sets []PluginSet, render func(i int, n *Node) ([]byte, error)) (*pair, error) {
	lo, err := parseList(LoopbackConfList())
	if err != nil {
		return nil, err
	}
	k := len(sets)
	p := &pair{e: e, lo: lo, nodes: make([]*Node, k), lists: make([]*libcni.NetworkConfigList, k),
		base: make([]Snapshot, k), live: make([]map[*Pod]bool, k), ips: make([]map[string]int, k)}
	for i, set := range sets {
		p.live[i] = map[*Pod]bool{}
		p.ips[i] = map[string]int{}
		n, err := newNode(e.nss, set, fmt.Sprintf("%s-node-%s", role, set.Name), e.dir)
		if err != nil {
			p.close(context.Background())
			return nil, err
		}
		p.nodes[i] = n
		if p.lists[i], err = parseList(render(i, n)); err != nil {
			p.close(context.Background())
			return nil, err
		}
	}
	return p, nil
}

// withLo reports whether pods also get containerd's loopback network.
func (p *pair) withLo(i int) bool { return p.lo != nil && p.nodes[i].Set.Has("loopback") }

// newPod creates a pod namespace for node i.
func (p *pair) newPod(i, index int, caps map[string]any) (*Pod, error) {
	pod, err := newPod(p.e.nss, fmt.Sprintf("pod-%s-%d", p.nodes[i].Set.Name, index), index)
	if err != nil {
		return nil, err
	}
	pod.Caps = caps
	return pod, nil
}

// add runs containerd's pod setup on node i: the loopback network, then the
// main list. It returns the main list's ADD time and the loopback's.
func (p *pair) add(ctx context.Context, i int, pod *Pod) (main, lo time.Duration, err error) {
	n := p.nodes[i]
	p.mu.Lock()
	p.live[i][pod] = true
	p.mu.Unlock()
	if p.withLo(i) {
		if _, lo, err = n.Add(ctx, p.lo, pod); err != nil {
			return 0, lo, err
		}
	}
	res, main, err := n.Add(ctx, p.lists[i], pod)
	if err != nil {
		return main, lo, err
	}
	pod.IP = firstIP(res)
	if pod.IP == "" {
		return main, lo, fmt.Errorf("%s: ADD %s pod %d: result has no IP: %+v", n.Set.Name, p.lists[i].Name, pod.Index, res)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if other, dup := p.ips[i][pod.IP]; dup {
		return main, lo, fmt.Errorf("%s: ADD pod %d got %s, already held by pod %d", n.Set.Name, pod.Index, pod.IP, other)
	}
	p.ips[i][pod.IP] = pod.Index
	return main, lo, nil
}

// del runs containerd's pod teardown on node i (main list, then loopback),
// checks that the pod holds no interface any more and deletes its namespace.
func (p *pair) del(ctx context.Context, i int, pod *Pod) (main, lo time.Duration, err error) {
	n := p.nodes[i]
	if main, err = n.Del(ctx, p.lists[i], pod); err != nil {
		return main, 0, err
	}
	if p.withLo(i) {
		if lo, err = n.Del(ctx, p.lo, pod); err != nil {
			return main, lo, err
		}
	}
	p.mu.Lock()
	delete(p.live[i], pod)
	delete(p.ips[i], pod.IP)
	p.mu.Unlock()
	left, err := podLeftovers(pod)
	if err != nil {
		return main, lo, err
	}
	if len(left) > 0 {
		return main, lo, fmt.Errorf("%s: after DEL pod %d (%s) still has %v", n.Set.Name, pod.Index, pod.NS.Name, left)
	}
	return main, lo, p.e.nss.Delete(pod.NS)
}

// warmUp adds and deletes one pod on each node, so the first measured pod
// does not pay for creating the bridge and the top-level chains, then
// records the state every later DEL must return to. It returns each node's
// first ADD time.
func (p *pair) warmUp(ctx context.Context, caps map[string]any) ([]time.Duration, error) {
	first := make([]time.Duration, len(p.nodes))
	for i := range p.nodes {
		pod, err := p.newPod(i, 0, caps)
		if err != nil {
			return nil, err
		}
		if first[i], _, err = p.add(ctx, i, pod); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if _, _, err := p.del(ctx, i, pod); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
		if p.base[i], err = takeSnapshot(p.nodes[i]); err != nil {
			return nil, err
		}
	}
	return first, nil
}

// maxLeftovers bounds how many leftover lines a failure lists per node.
const maxLeftovers = 20

// checkLeaks compares each node with its warm-up state and records every
// leftover as a failure of res.
func (p *pair) checkLeaks(res *Result) error {
	for i, n := range p.nodes {
		now, err := takeSnapshot(n)
		if err != nil {
			return err
		}
		left := now.Leftovers(p.base[i])
		if len(left) > maxLeftovers {
			left = append(left[:maxLeftovers], fmt.Sprintf("... and %d more", len(left)-maxLeftovers))
		}
		for _, l := range left {
			res.fail("leak on %s node: %s", n.Set.Name, l)
		}
	}
	return nil
}

// close deletes what is left after a failure: DEL of every pod still added
// (best effort, to flush the plugins' state), then the namespaces. When the
// run was interrupted it skips the DELs: every bit of state lives in the
// namespaces and the temp dir, which go anyway.
func (p *pair) close(ctx context.Context) {
	for i, n := range p.nodes {
		if n == nil {
			continue
		}
		for pod := range p.live[i] {
			if ctx.Err() == nil {
				_, _ = n.Del(ctx, p.lists[i], pod)
			}
			_ = p.e.nss.Delete(pod.NS)
		}
		_ = p.e.nss.Delete(n.NS)
	}
}

// nfCount is a node's netfilter line count, with and without the lines
// of set and map elements.
type nfCount struct{ lines, withoutElements int }

// netfilterLines counts node i's netfilter lines (see Netfilter.Count).
func (p *pair) netfilterLines(i int) (nfCount, error) {
	nf, err := readNetfilter(p.nodes[i].NS)
	if err != nil {
		return nfCount{}, err
	}
	return nfCount{nf.Count(p.e.xtInNFT), nf.CountWithoutElements(p.e.xtInNFT)}, nil
}

// errStopped wraps the context's cause when the run is interrupted.
func stopped(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return errors.Join(errors.New("stopped"), context.Cause(ctx))
}
