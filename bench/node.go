package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Node is one plugin set's throwaway node: a namespace the plugins run in as
// their current namespace, as containerd's run in the host's, plus private
// dataDir and libcni cache dir.
type Node struct {
	Set PluginSet
	NS  *NetNS
	// DataDir is the host-local dataDir root of this node.
	DataDir string
	// CacheDir is libcni's cache dir (results/ inside).
	CacheDir string
	cni      *libcni.CNIConfig
}

// newNode creates a node namespace for set, with forwarding on, and its
// private directories under dir.
func newNode(nss *Namespaces, set PluginSet, role, dir string) (*Node, error) {
	n, err := nss.Create(role)
	if err != nil {
		return nil, err
	}
	node := &Node{
		Set:      set,
		NS:       n,
		DataDir:  filepath.Join(dir, n.Name, "data"),
		CacheDir: filepath.Join(dir, n.Name, "cache"),
	}
	for _, d := range []string{node.DataDir, node.CacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if _, err := n.IP("link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	node.cni = libcni.NewCNIConfigWithCacheDir([]string{set.BinDir}, node.CacheDir, nil)
	return node, nil
}

// Pod is a pod sandbox: a namespace and a container ID.
type Pod struct {
	NS          *NetNS
	ContainerID string
	// Index is the pod's 1-based position in its scenario.
	Index int
	// Caps are the capability args sent with every verb (portMappings).
	Caps map[string]any
	// IP is the address ADD returned, for the duplicate check.
	IP string
}

// newPod creates a pod namespace with a fresh random 64-hex container ID.
func newPod(nss *Namespaces, role string, index int) (*Pod, error) {
	n, err := nss.Create(role)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("container id: %w", err)
	}
	return &Pod{NS: n, ContainerID: hex.EncodeToString(id), Index: index}, nil
}

// runtimeConf is what containerd passes for the pod's eth0: kubelet-style
// CNI_ARGS and the capability args.
func (p *Pod) runtimeConf(ifName string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: p.ContainerID,
		NetNS:       p.NS.Path,
		IfName:      ifName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", "bench"},
			{"K8S_POD_NAME", p.NS.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ContainerID},
			{"K8S_POD_UID", p.ContainerID[:32]},
		},
		CapabilityArgs: p.Caps,
	}
}

// ifNameFor is the interface name of a network in the pod: containerd gives
// the loopback network "lo" and the default network "eth0".
func ifNameFor(list *libcni.NetworkConfigList) string {
	if list.Name == "cni-loopback" {
		return "lo"
	}
	return "eth0"
}

// opTimeout bounds one ADD or DEL of a whole list: a hung plugin fails the
// scenario instead of the run.
const opTimeout = 2 * time.Minute

// Add runs ADD for the whole list with the node as the current namespace and
// returns the final result and the time libcni took.
func (n *Node) Add(ctx context.Context, list *libcni.NetworkConfigList, p *Pod) (*current.Result, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var (
		res     *current.Result
		elapsed time.Duration
	)
	err := n.NS.Do(func() error {
		start := time.Now()
		r, err := n.cni.AddNetworkList(ctx, list, p.runtimeConf(ifNameFor(list)))
		elapsed = time.Since(start)
		if err != nil {
			return err
		}
		res, err = current.NewResultFromResult(r)
		return err
	})
	if err != nil {
		return nil, elapsed, fmt.Errorf("%s: ADD %s pod %d (%s): %w", n.Set.Name, list.Name, p.Index, p.NS.Name, err)
	}
	return res, elapsed, nil
}

// Del runs DEL for the whole list (reverse order, cached prevResult) and
// returns the time libcni took.
func (n *Node) Del(ctx context.Context, list *libcni.NetworkConfigList, p *Pod) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var elapsed time.Duration
	err := n.NS.Do(func() error {
		start := time.Now()
		err := n.cni.DelNetworkList(ctx, list, p.runtimeConf(ifNameFor(list)))
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		return elapsed, fmt.Errorf("%s: DEL %s pod %d (%s): %w", n.Set.Name, list.Name, p.Index, p.NS.Name, err)
	}
	return elapsed, nil
}

// firstIP returns the first address of an ADD result, "" when there is none.
func firstIP(r *current.Result) string {
	if r == nil || len(r.IPs) == 0 {
		return ""
	}
	return r.IPs[0].Address.IP.String()
}
