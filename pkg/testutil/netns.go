package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/plugins/pkg/ns"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/var/run/netns"

// namePrefix starts every namespace this harness creates.
const namePrefix = "pnt-"

var (
	nsCounter atomic.Int64
	sweepOnce sync.Once
)

// NetNS is a named network namespace created for one test.
type NetNS struct {
	// Name is the iproute2 name: `ip netns exec <Name> ...` works on it.
	Name string
	// Path is the bind-mounted file, /var/run/netns/<Name>.
	Path string
	ns.NetNS
}

// NewNetNS creates a named network namespace with lo up and removes it when
// the test ends. role names it in `ip netns list`, e.g. "node0" or "pod1".
func NewNetNS(t TB, role string) *NetNS {
	t.Helper()
	RequireRoot(t)
	sweepOnce.Do(sweepStale)
	prefix := fmt.Sprintf("%s%d-", namePrefix, os.Getpid())
	if p, ok := t.(netnsPrefixer); ok {
		prefix = p.NetNSPrefix()
	}
	name := fmt.Sprintf("%s%d-%s", prefix, nsCounter.Add(1), role)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("create netns %q: %v: %s", name, err, out)
	}
	n := &NetNS{Name: name, Path: filepath.Join(netnsDir, name)}
	t.Cleanup(func() { n.remove(t) })
	h, err := ns.GetNS(n.Path)
	if err != nil {
		t.Fatalf("open netns %q: %v", n.Path, err)
	}
	n.NetNS = h
	if out, err := n.Exec("ip", "link", "set", "lo", "up"); err != nil {
		t.Fatalf("set lo up in %q: %v: %s", name, err, out)
	}
	return n
}

// remove closes and deletes the namespace; every link inside goes with it.
func (n *NetNS) remove(t TB) {
	if n.NetNS != nil {
		_ = n.NetNS.Close()
	}
	if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
		if _, statErr := os.Stat(n.Path); statErr == nil {
			t.Errorf("delete netns %q: %v: %s", n.Name, err, out)
		}
	}
}

// Delete removes the namespace now, as a runtime does when a pod dies; the
// later cleanup tolerates its absence.
func (n *NetNS) Delete(t TB) {
	t.Helper()
	n.remove(t)
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns its
// stdout; stderr goes into the error when the command fails. Arguments are
// passed as is, never through a shell.
func (n *NetNS) Exec(name string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", n.Name, name}, args...)
	var stdout, stderr strings.Builder
	cmd := exec.Command("ip", full...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("ip netns exec %s %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err,
			strings.TrimSpace(stderr.String()+"\n"+stdout.String()))
	}
	return stdout.String(), nil
}

// MustExec is Exec that fails the test on error.
func (n *NetNS) MustExec(t TB, name string, args ...string) string {
	t.Helper()
	out, err := n.Exec(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Do runs fn with the calling goroutine's thread inside the namespace and
// restores it afterwards.
func (n *NetNS) Do(fn func() error) error {
	return n.NetNS.Do(func(ns.NetNS) error { return fn() })
}

// sweepStale deletes namespaces left by harness processes that no longer
// exist (a test binary killed before its cleanup ran).
func sweepStale() { SweepStaleNetNS(namePrefix) }

// SweepStaleNetNS deletes the named network namespaces "<prefix><pid>-..."
// whose creating process <pid> no longer exists: what a harness or
// benchmark killed before its cleanup left. Namespaces of live processes,
// this one included, are kept.
func SweepStaleNetNS(prefix string) {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			continue // its owner still runs
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}
