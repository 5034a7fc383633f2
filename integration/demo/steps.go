package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// addPods creates the pods' namespaces, ADDs them through libcni and starts
// a TCP echo server on port 80 in each.
func addPods(ctx context.Context, t testutil.TB, nodes []*demoNode, perNode int) ([]*demoPod, error) {
	var pods []*demoPod
	for i, n := range nodes {
		for j := 0; j < perNode; j++ {
			p := &demoPod{name: fmt.Sprintf("pod-%d%c", i, 'a'+j), node: n}
			p.pod = testutil.NewPod(t, p.name)
			p.att = testutil.Attachment{Pod: p.pod, IfName: "eth0"}
			if j == 0 {
				p.att.Caps = map[string]any{"portMappings": []map[string]any{
					{"hostPort": hostPort, "containerPort": podPort, "protocol": "tcp"},
				}}
			}
			res, err := n.rt.Add(ctx, n.list, p.att)
			if err != nil {
				return nil, fmt.Errorf("ADD %s on %s: %w", p.name, n.Name, err)
			}
			r, err := current.GetResult(res)
			if err != nil || len(r.IPs) == 0 {
				return nil, fmt.Errorf("ADD %s: result without an address: %v %v", p.name, res, err)
			}
			p.ip = r.IPs[0].Address.IP.String()
			for _, iface := range r.Interfaces {
				if iface.Sandbox != "" && iface.Mtu > 0 {
					p.mtu = strconv.Itoa(iface.Mtu)
				}
			}
			if p.mtu == "" {
				p.mtu = strings.TrimSpace(p.pod.MustExec(t, "cat", "/sys/class/net/eth0/mtu"))
			}
			p.echo = testutil.StartEcho(t, p.pod.NetNS, "tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(podPort)))
			n.pods = append(n.pods, p)
			pods = append(pods, p)
		}
	}
	return pods, nil
}

func printPods(w io.Writer, pods []*demoPod) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tPOD\tIP\tINTERFACE\tMTU\tHOSTPORT")
	for _, p := range pods {
		hp := "-"
		if p.att.Caps != nil {
			hp = fmt.Sprintf("%d->%d/tcp", hostPort, podPort)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.node.label, p.name, p.ip, p.att.IfName, p.mtu, hp)
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
}

// pingMatrix pings every pod from every other pod and prints the matrix.
func pingMatrix(w io.Writer, pods []*demoPod) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(tw, "  from \\ to\t")
	for _, p := range pods {
		fmt.Fprintf(tw, "%s\t", p.name)
	}
	fmt.Fprintln(tw)
	var failed []string
	for _, from := range pods {
		fmt.Fprintf(tw, "  %s\t", from.name)
		for _, to := range pods {
			mark := "-"
			if from != to {
				mark = "ok"
				if err := pingRetry(from.pod.NetNS, to.ip); err != nil {
					mark = "FAIL"
					failed = append(failed, fmt.Sprintf("%s -> %s (%s): %v", from.name, to.name, to.ip, err))
				}
			}
			fmt.Fprintf(tw, "%s\t", mark)
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "\n%s", b.String())
	if len(failed) > 0 {
		return fmt.Errorf("%d pings failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	return nil
}

func pingRetry(from *testutil.NetNS, addr string) error {
	var err error
	for i := 0; i < 3; i++ {
		if err = testutil.Ping(from, addr, 1); err == nil {
			return nil
		}
	}
	return err
}

// noNAT connects from each node's first pod to the last pod of the next
// node and checks the server saw the client pod's own address.
func noNAT(ctx context.Context, w io.Writer, nodes []*demoNode) error {
	fmt.Fprintln(w)
	for i, n := range nodes {
		from := n.pods[0]
		next := nodes[(i+1)%len(nodes)]
		to := next.pods[len(next.pods)-1]
		seen, err := testutil.DialRetry(ctx, from.pod.NetNS, "tcp", net.JoinHostPort(to.ip, strconv.Itoa(podPort)))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s (%s) -> %s (%s): server saw %s\n", from.name, from.ip, to.name, to.ip, testutil.PeerIP(seen))
		if testutil.PeerIP(seen) != from.ip {
			return fmt.Errorf("%s saw %s, want %s's own address %s", to.name, seen, from.name, from.ip)
		}
	}
	return nil
}

// hostPortCheck dials every node's hostPort from the next node's namespace
// and checks the connection reached the mapped pod.
func hostPortCheck(ctx context.Context, w io.Writer, nodes []*demoNode) error {
	fmt.Fprintln(w)
	for i, n := range nodes {
		from := nodes[(i+1)%len(nodes)]
		target := n.pods[0]
		before := len(target.echo.Peers())
		addr := net.JoinHostPort(n.V4, strconv.Itoa(hostPort))
		seen, err := testutil.DialRetry(ctx, from.NetNS, "tcp", addr)
		if err != nil {
			return err
		}
		if len(target.echo.Peers()) != before+1 {
			return fmt.Errorf("connection to %s from %s did not reach %s", addr, from.Name, target.name)
		}
		fmt.Fprintf(w, "  %s -> %s (hostPort of %s) reached %s; it saw %s\n", from.label, addr, n.label, target.name, testutil.PeerIP(seen))
	}
	return nil
}

// outsideCheck has one pod per node connect to the outside host, which must
// see the node's underlay address (masquerade), since it has no route back
// to the pod network.
func outsideCheck(ctx context.Context, w io.Writer, t testutil.TB, c *testutil.Cluster, nodes []*demoNode) error {
	fmt.Fprintln(w)
	testutil.StartEcho(t, c.Outside, "tcp", net.JoinHostPort("0.0.0.0", strconv.Itoa(outsidePort)))
	for _, n := range nodes {
		p := n.pods[len(n.pods)-1]
		seen, err := testutil.DialRetry(ctx, p.pod.NetNS, "tcp", net.JoinHostPort(testutil.OutsideV4, strconv.Itoa(outsidePort)))
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s (%s) -> outside %s: outside saw %s\n", p.name, p.ip, testutil.OutsideV4, testutil.PeerIP(seen))
		if testutil.PeerIP(seen) != n.V4 {
			return fmt.Errorf("outside saw %s from %s, want the node address %s", seen, p.name, n.V4)
		}
	}
	return nil
}

func checkAll(ctx context.Context, nodes []*demoNode, pods []*demoPod) error {
	for _, p := range pods {
		if err := p.node.rt.Check(ctx, p.node.list, p.att); err != nil {
			return fmt.Errorf("CHECK %s: %w", p.name, err)
		}
	}
	for _, n := range nodes {
		if err := n.rt.Status(ctx, n.list); err != nil {
			return fmt.Errorf("STATUS on %s: %w", n.Name, err)
		}
	}
	return nil
}

func delAll(ctx context.Context, nodes []*demoNode, pods []*demoPod) error {
	var errs []error
	for _, p := range pods {
		if err := p.node.rt.Del(ctx, p.node.list, p.att); err != nil {
			errs = append(errs, fmt.Errorf("DEL %s: %w", p.name, err))
		}
	}
	for _, n := range nodes {
		if err := n.rt.GC(ctx, n.list); err != nil {
			errs = append(errs, fmt.Errorf("GC on %s: %w", n.Name, err))
		}
	}
	return errors.Join(errs...)
}

// provePristine checks every node for what the pods and the overlay could
// leave: links beyond lo/eth0/cni0, address reservations, rules, cache files.
func provePristine(w io.Writer, t testutil.TB, nodes []*demoNode) error {
	var left []string
	var links, reservations, rules, cached int
	for _, n := range nodes {
		for _, l := range n.LinkNames(t) {
			if l != "lo" && l != "eth0" && l != "cni0" {
				links++
				left = append(left, fmt.Sprintf("%s: link %s", n.Name, l))
			}
		}
		for _, f := range testutil.Files(t, filepath.Join(n.dataDir, "ipam")) {
			// lock, the round-robin cursors and host-local's index stamp
			// are bookkeeping; every other file is a reservation.
			base := filepath.Base(f)
			if base != "lock" && !strings.HasPrefix(base, "last_reserved_ip") && !strings.HasSuffix(f, ".podnet/stamp") {
				reservations++
				left = append(left, fmt.Sprintf("%s: reservation %s", n.Name, f))
			}
		}
		if after := n.Netfilter(t); after != n.before {
			rules++
			left = append(left, fmt.Sprintf("%s: netfilter state differs from before the first ADD:\n%s", n.Name, after))
		}
		for _, f := range n.rt.CachedResults(t) {
			cached++
			left = append(left, fmt.Sprintf("%s: libcni cache %s", n.Name, f))
		}
	}
	fmt.Fprintf(w, "\n  left on the nodes: %d pod links, %d reservations, %d netfilter changes, %d cached results\n", links, reservations, rules, cached)
	if len(left) > 0 {
		return fmt.Errorf("leftovers:\n  %s", strings.Join(left, "\n  "))
	}
	return nil
}

func printKeep(w io.Writer, nodes []*demoNode, pods []*demoPod) {
	fmt.Fprintf(w, "\nThe cluster is up. Explore it:\n")
	n := nodes[0]
	p := n.pods[0]
	fmt.Fprintf(w, "  ip netns list | grep %s\n", NetNSPrefix)
	fmt.Fprintf(w, "  ip netns exec %s ip -d link show\n", n.Name)
	fmt.Fprintf(w, "  ip netns exec %s ip route; ip netns exec %s bridge fdb show dev podnet.1\n", n.Name, n.Name)
	fmt.Fprintf(w, "  ip netns exec %s nft list ruleset\n", n.Name)
	fmt.Fprintf(w, "  ip netns exec %s ping -c1 %s\n", p.pod.Name, pods[len(pods)-1].ip)
	fmt.Fprintf(w, "Add a pod of your own on %s with cnitool:\n", n.label)
	fmt.Fprintf(w, "  ip netns add %stry\n", NetNSPrefix)
	fmt.Fprintf(w, "  NETCONFPATH=%s CNI_PATH=%s nsenter --net=%s .tools/bin/cnitool add %s /var/run/netns/%stry\n",
		n.netDir, n.rt.BinDir, n.Path, netName, NetNSPrefix)
	fmt.Fprintf(w, "  ip netns exec %stry ping -c1 %s\n", NetNSPrefix, pods[len(pods)-1].ip)
	fmt.Fprintf(w, "Remove it with: sudo make demo-clean\n")
}
