package testutil

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

// Node is a throwaway node: a network namespace that plugins run in as their
// current namespace, as containerd's would run in the host's.
type Node struct {
	*NetNS
	// Dir is a private temp directory for this node's state (dataDirs).
	Dir string
}

// NewNode creates a node namespace and a private state directory.
func NewNode(t TB, role string) *Node {
	t.Helper()
	return &Node{NetNS: NewNetNS(t, role), Dir: t.TempDir()}
}

// Pod is a pod sandbox: a network namespace and a container ID.
type Pod struct {
	*NetNS
	// ContainerID is 64 hex characters, like a real runtime's.
	ContainerID string
}

// NewPod creates a pod namespace. Its container ID is derived from the
// namespace name, so it is unique per test run.
func NewPod(t TB, role string) *Pod {
	t.Helper()
	n := NewNetNS(t, role)
	sum := sha256.Sum256([]byte(n.Name))
	return &Pod{NetNS: n, ContainerID: hex.EncodeToString(sum[:])}
}

// Runtime drives plugins through libcni exactly as containerd does: exec of
// the binaries found on CNI_PATH, a result cache, prevResult chaining, with
// the node namespace as the plugins' current namespace.
type Runtime struct {
	Node *Node
	CNI  *libcni.CNIConfig
	// CacheDir is libcni's private cache (results/ inside).
	CacheDir string
	// BinDir is the CNI_PATH.
	BinDir string
}

// NewRuntime builds a runtime for node whose CNI_PATH is the built bin/ dir
// (BinDir); plugins names the binaries that must be there.
func NewRuntime(t TB, node *Node, plugins ...string) *Runtime {
	t.Helper()
	bin := BinDir(t, plugins...)
	cache := filepath.Join(t.TempDir(), "cni-cache")
	return &Runtime{
		Node:     node,
		CNI:      libcni.NewCNIConfigWithCacheDir([]string{bin}, cache, nil),
		CacheDir: cache,
		BinDir:   bin,
	}
}

// ConfList parses a conflist, failing the test on error.
func ConfList(t TB, conflist string) *libcni.NetworkConfigList {
	t.Helper()
	l, err := libcni.ConfListFromBytes([]byte(conflist))
	if err != nil {
		t.Fatalf("parse conflist: %v\n%s", err, conflist)
	}
	return l
}

// Attachment is what a runtime passes for one (pod, interface) pair.
type Attachment struct {
	Pod    *Pod
	IfName string
	// Caps are the capability args (portMappings, mac, ips, ...).
	Caps map[string]any
	// Args are extra CNI_ARGS pairs; the kubelet-style IgnoreUnknown and
	// K8S_POD_* pairs are always sent.
	Args [][2]string
}

// RuntimeConf renders the attachment as libcni sees it.
func (a Attachment) RuntimeConf() *libcni.RuntimeConf {
	ifname := a.IfName
	if ifname == "" {
		ifname = "eth0"
	}
	args := [][2]string{
		{"IgnoreUnknown", "1"},
		{"K8S_POD_NAMESPACE", "default"},
		{"K8S_POD_NAME", a.Pod.Name},
		{"K8S_POD_INFRA_CONTAINER_ID", a.Pod.ContainerID},
	}
	return &libcni.RuntimeConf{
		ContainerID:    a.Pod.ContainerID,
		NetNS:          a.Pod.Path,
		IfName:         ifname,
		Args:           append(args, a.Args...),
		CapabilityArgs: a.Caps,
	}
}

// inNode runs fn with the node namespace as the current one, so the plugin
// processes libcni forks inherit it.
func (r *Runtime) inNode(fn func() error) error {
	return r.Node.Do(fn)
}

// Add runs ADD for the whole list and returns the final result.
func (r *Runtime) Add(ctx context.Context, list *libcni.NetworkConfigList, a Attachment) (types.Result, error) {
	var res types.Result
	err := r.inNode(func() error {
		var err error
		res, err = r.CNI.AddNetworkList(ctx, list, a.RuntimeConf())
		return err
	})
	return res, err
}

// Del runs DEL for the whole list (reverse order, cached prevResult).
func (r *Runtime) Del(ctx context.Context, list *libcni.NetworkConfigList, a Attachment) error {
	return r.inNode(func() error { return r.CNI.DelNetworkList(ctx, list, a.RuntimeConf()) })
}

// Check runs CHECK for the whole list with the cached result.
func (r *Runtime) Check(ctx context.Context, list *libcni.NetworkConfigList, a Attachment) error {
	return r.inNode(func() error { return r.CNI.CheckNetworkList(ctx, list, a.RuntimeConf()) })
}

// Status runs STATUS for every plugin of the list.
func (r *Runtime) Status(ctx context.Context, list *libcni.NetworkConfigList) error {
	return r.inNode(func() error { return r.CNI.GetStatusNetworkList(ctx, list) })
}

// GC runs libcni's GC: DEL of cached attachments not in valid, then GC with
// the valid list sent to every plugin.
func (r *Runtime) GC(ctx context.Context, list *libcni.NetworkConfigList, valid ...Attachment) error {
	args := &libcni.GCArgs{}
	for _, a := range valid {
		rc := a.RuntimeConf()
		args.ValidAttachments = append(args.ValidAttachments, types.GCAttachment{ContainerID: rc.ContainerID, IfName: rc.IfName})
	}
	return r.inNode(func() error { return r.CNI.GCNetworkList(ctx, list, args) })
}

// CachedResults lists the files in libcni's result cache, for leak checks.
func (r *Runtime) CachedResults(t TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(r.CacheDir, "results"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
