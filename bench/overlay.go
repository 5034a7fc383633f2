package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
)

// The overlay scenario's network: every node has a /24 of 10.244.0.0/16.
const (
	overlayNet  = "pnb-overlay"
	overlayCIDR = "10.244.0.0/16"
	// overlayPods are the pods measured on each of the two latency nodes.
	overlayPods = 20
	// iperfRounds alternate underlay and overlay runs.
	iperfRounds = 2
)

// Roles of the overlay scenario's three nodes (all ours).
const (
	manyPeers = iota // lists OverlayPeers peers
	onePeer          // lists one peer: farEnd
	farEnd           // the other end of the throughput runs
)

// overlayScenario is ours only: there is no reference vxlan plugin.
func overlayScenario() scenario {
	return scenario{
		name:     "overlay",
		needs:    []string{"bridge", "host-local", "vxlan", "loopback"},
		oursOnly: true,
		describe: func(o Options) string {
			return fmt.Sprintf("ours only (bridge + host-local + vxlan): ADD latency with %d peers vs 1 peer; iperf3 TCP pod-to-pod across two nodes over vxlan vs node-to-node on the underlay", o.OverlayPeers)
		},
		run: runOverlay,
	}
}

// overlayPeer is a peers entry: a node's underlay address and pod subnet.
type overlayPeer struct {
	VTEPIP string `json:"vtepIP"`
	Subnet string `json:"subnet"`
}

// overlayPeers returns the peers list of each role: the real nodes, plus
// for manyPeers enough made-up nodes (VTEPs in 198.18.0.0/15, RFC 2544) to
// reach want peers besides itself.
func overlayPeers(want int) [3][]overlayPeer {
	real := make([]overlayPeer, 3)
	for i := range real {
		real[i] = overlayPeer{VTEPIP: underlayAddr(i), Subnet: fmt.Sprintf("10.244.%d.0/24", i+1)}
	}
	many := append([]overlayPeer(nil), real...)
	for j := 0; j < want-2; j++ {
		many = append(many, overlayPeer{
			VTEPIP: fmt.Sprintf("198.18.%d.%d", j/250, j%250+1),
			Subnet: fmt.Sprintf("10.244.%d.0/24", j+4),
		})
	}
	pair := []overlayPeer{real[onePeer], real[farEnd]}
	return [3][]overlayPeer{many, pair, pair}
}

// overlayConfList is node i's list: bridge with host-local on the node's
// /24, then vxlan with its peers and txChecksumOffload.
func overlayConfList(i int, n *Node, peers []overlayPeer, offload bool) ([]byte, error) {
	return confList(overlayNet, []any{
		map[string]any{
			"type": "bridge", "bridge": "pnbr0", "isGateway": true, "isDefaultGateway": true,
			"ipam": hostLocalIPAM(fmt.Sprintf("10.244.%d.0/24", i+1), n.DataDir, false),
		},
		map[string]any{
			"type": "vxlan", "vni": 1, "network": overlayCIDR, "vtepIP": underlayAddr(i),
			"dataDir": n.DataDir + "/vxlan", "peers": peers, "txChecksumOffload": offload,
		},
	})
}

func runOverlay(ctx context.Context, e *env, res *Result) error {
	peers := overlayPeers(e.opts.OverlayPeers)
	ours := e.opts.Ours
	sets := []PluginSet{
		{Name: fmt.Sprintf("%d-peers", max(e.opts.OverlayPeers, 1)), BinDir: ours.BinDir},
		{Name: "1-peer", BinDir: ours.BinDir},
		{Name: "far-end", BinDir: ours.BinDir},
	}
	p, err := newGroup(e, "overlay", sets, func(i int, n *Node) ([]byte, error) {
		return overlayConfList(i, n, peers[i], false)
	})
	if err != nil {
		return err
	}
	defer p.close(ctx)
	ul, err := newUnderlay(e.nss, "overlay-underlay")
	if err != nil {
		return err
	}
	defer e.nss.Delete(ul.ns)
	for i, n := range p.nodes {
		if err := ul.plug(n, underlayAddr(i)); err != nil {
			return err
		}
	}
	first, err := p.warmUp(ctx, nil)
	if err != nil {
		return err
	}
	add, del, err := p.overlayLatency(ctx)
	if err != nil {
		return err
	}
	tput, err := p.overlayThroughput(ctx, peers)
	if err != nil {
		return err
	}
	if err := p.checkLeaks(res); err != nil {
		return err
	}
	lat := Table{Title: "ADD/DEL latency of bridge + host-local + vxlan", Unit: "ms", Columns: [2]string{sets[manyPeers].Name, sets[onePeer].Name}}
	lat.Rows = append(lat.Rows,
		newRow("first ADD on a fresh node", Value(ms(first[:1])[0]), Value(ms(first[1:2])[0])),
		newRow("ADD", Summarize(ms(add[manyPeers])), Summarize(ms(add[onePeer]))),
		newRow("DEL", Summarize(ms(del[manyPeers])), Summarize(ms(del[onePeer]))))
	res.Tables = []Table{lat, tput}
	return nil
}

// overlayLatency adds overlayPods pods on the manyPeers and onePeer nodes,
// interleaved, then deletes them; it returns the times per node.
func (p *pair) overlayLatency(ctx context.Context) (add, del [2][]time.Duration, err error) {
	two := p.nodes[:2]
	pods := [2][]*Pod{}
	for k := 1; k <= overlayPods; k++ {
		for _, n := range p.e.order(k, two) {
			i := p.index(n)
			pod, err := p.newPod(i, k, nil)
			if err != nil {
				return add, del, err
			}
			d, _, err := p.add(ctx, i, pod)
			if err != nil {
				return add, del, err
			}
			pods[i] = append(pods[i], pod)
			add[i] = append(add[i], d)
		}
	}
	for k := overlayPods; k >= 1; k-- {
		for _, n := range p.e.order(k, two) {
			i := p.index(n)
			d, _, err := p.del(ctx, i, pods[i][k-1])
			if err != nil {
				return add, del, err
			}
			del[i] = append(del[i], d)
		}
	}
	return add, del, nil
}

// overlayThroughput measures iperf3 over vxlan and on the underlay, first
// with the nodes' lists (txChecksumOffload false, the default), then with
// txChecksumOffload true, the price of the checksum-bug workaround.
func (p *pair) overlayThroughput(ctx context.Context, peers [3][]overlayPeer) (Table, error) {
	tab := Table{Title: "iperf3 TCP throughput, one stream", Unit: "Mbit/s", Columns: [2]string{"vxlan pod-to-pod", "underlay node-to-node"}}
	over, under, err := p.throughputPhase(ctx, "off")
	if err != nil {
		return tab, err
	}
	runs := fmt.Sprintf("%d × %d s", iperfRounds, p.e.opts.IperfSeconds)
	tab.Rows = append(tab.Rows, newRow("TCP, txChecksumOffload false (default), "+runs, Summarize(over), Summarize(under)))
	saved := append([]*libcni.NetworkConfigList(nil), p.lists...)
	defer func() { p.lists = saved }()
	for _, i := range []int{onePeer, farEnd} {
		if p.lists[i], err = parseList(overlayConfList(i, p.nodes[i], peers[i], true)); err != nil {
			return tab, err
		}
		// txChecksumOffload true keeps the device's setting as it finds it
		// (plugin README), so the device must be new to have the kernel's
		// default; the next ADD recreates it with the peers.
		if _, err := p.nodes[i].NS.IP("link", "del", overlayDevice); err != nil {
			return tab, err
		}
	}
	if over, under, err = p.throughputPhase(ctx, "on"); err != nil {
		return tab, fmt.Errorf("txChecksumOffload true: %w", err)
	}
	tab.Rows = append(tab.Rows, newRow("TCP, txChecksumOffload true, "+runs, Summarize(over), Summarize(under)))
	return tab, nil
}

// throughputPhase puts a pod on the onePeer node and one on the farEnd
// node, checks the device's TX checksum offload is as configured (offload
// "on" or "off") and the pods reach each other, runs iperf3 between them
// and between their nodes' underlay addresses, alternating, and deletes the
// pods.
func (p *pair) throughputPhase(ctx context.Context, offload string) (over, under []float64, err error) {
	var pods [2]*Pod
	for j, i := range []int{onePeer, farEnd} {
		pod, err := p.newPod(i, overlayPods+1, nil)
		if err != nil {
			return nil, nil, err
		}
		if _, _, err := p.add(ctx, i, pod); err != nil {
			return nil, nil, err
		}
		pods[j] = pod
	}
	for _, i := range []int{onePeer, farEnd} {
		if err := checkOffload(p.nodes[i].NS, offload); err != nil {
			return nil, nil, err
		}
	}
	if err := pingRetry(pods[0].NS, pods[1].IP); err != nil {
		return nil, nil, fmt.Errorf("pod %s on node %s cannot reach pod %s on node %s over vxlan: %w",
			pods[0].IP, underlayAddr(onePeer), pods[1].IP, underlayAddr(farEnd), err)
	}
	for r := 0; r < iperfRounds; r++ {
		v, err := iperf(ctx, p.nodes[farEnd].NS, p.nodes[onePeer].NS, underlayAddr(farEnd), p.e.opts.IperfSeconds)
		if err != nil {
			return nil, nil, fmt.Errorf("underlay: %w", err)
		}
		under = append(under, v)
		if v, err = iperf(ctx, pods[1].NS, pods[0].NS, pods[1].IP, p.e.opts.IperfSeconds); err != nil {
			return nil, nil, fmt.Errorf("overlay: %w", err)
		}
		over = append(over, v)
	}
	for j, i := range []int{onePeer, farEnd} {
		if _, _, err := p.del(ctx, i, pods[j]); err != nil {
			return nil, nil, err
		}
	}
	return over, under, nil
}

// overlayDevice is the vxlan device of vni 1 (the plugin's default name).
const overlayDevice = "podnet.1"

// checkOffload requires the overlay device's tx-checksum-ip-generic to be
// want ("on" or "off"), so each throughput row measures what it says.
func checkOffload(n *NetNS, want string) error {
	out, err := n.Exec("ethtool", "-k", overlayDevice)
	if err != nil {
		return err
	}
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "tx-checksum-ip-generic:"); ok {
			if got := strings.Fields(v); len(got) == 0 || got[0] != want {
				return fmt.Errorf("%s in %s: tx-checksum-ip-generic is %q, want %q", overlayDevice, n.Name, strings.TrimSpace(v), want)
			}
			return nil
		}
	}
	return fmt.Errorf("%s in %s: ethtool -k shows no tx-checksum-ip-generic", overlayDevice, n.Name)
}
