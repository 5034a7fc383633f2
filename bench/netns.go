package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/podnet/podnet/pkg/testutil"
)

// netnsDir is where iproute2 keeps named network namespaces.
const netnsDir = "/var/run/netns"

// NamePrefix starts the name of every namespace the benchmark creates.
const NamePrefix = "pnb-"

// NetNS is a named network namespace (`ip netns add`).
type NetNS struct {
	// Name is the iproute2 name: `ip netns exec <Name> ...` works on it.
	Name string
	// Path is the bind-mounted file, /var/run/netns/<Name>.
	Path string
	h    ns.NetNS
}

// Do runs fn on a thread inside the namespace and moves the thread back
// afterwards (ns.Do locks it for the duration). Processes started by fn, such
// as the plugins libcni execs, inherit the namespace.
func (n *NetNS) Do(fn func() error) error {
	return n.h.Do(func(ns.NetNS) error { return fn() })
}

// Exec runs a command inside the namespace (`ip netns exec`) and returns its
// standard output. Arguments are passed as is, never through a shell.
func (n *NetNS) Exec(name string, args ...string) (string, error) {
	full := append([]string{"netns", "exec", n.Name, name}, args...)
	var stderr strings.Builder
	cmd := exec.Command("ip", full...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ip netns exec %s %s %s: %w: %s", n.Name, name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// IP runs `ip -n <Name> args...`, which is cheaper than Exec for iproute2.
func (n *NetNS) IP(args ...string) (string, error) {
	full := append([]string{"-n", n.Name}, args...)
	out, err := exec.Command("ip", full...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w: %s", strings.Join(full, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Namespaces creates named namespaces "pnb-<pid>-<n>-<role>" and deletes
// every one it created. It is safe for concurrent use, so a signal handler
// may call DeleteAll while scenarios still run.
type Namespaces struct {
	mu     sync.Mutex
	prefix string
	n      int
	live   map[string]*NetNS
	closed bool
}

// NewNamespaces returns an empty registry after deleting the namespaces that
// earlier runs left behind (their pid no longer exists).
func NewNamespaces() *Namespaces {
	testutil.SweepStaleNetNS(NamePrefix) // namespaces of killed runs
	return &Namespaces{
		prefix: fmt.Sprintf("%s%d-", NamePrefix, os.Getpid()),
		live:   map[string]*NetNS{},
	}
}

// errClosed is returned by Create after DeleteAll: the run is shutting down.
var errClosed = errors.New("namespaces are being deleted: the run was stopped")

// Create adds a namespace with lo down (the loopback plugin's job) and
// registers it for deletion.
func (s *Namespaces) Create(role string) (*NetNS, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	s.n++
	name := fmt.Sprintf("%s%d-%s", s.prefix, s.n, role)
	n := &NetNS{Name: name, Path: filepath.Join(netnsDir, name)}
	s.live[name] = n
	s.mu.Unlock()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		s.forget(name)
		return nil, fmt.Errorf("create netns %q: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	h, err := ns.GetNS(n.Path)
	if err != nil {
		_ = s.Delete(n)
		return nil, fmt.Errorf("open netns %q: %w", n.Path, err)
	}
	n.h = h
	return n, nil
}

func (s *Namespaces) forget(name string) {
	s.mu.Lock()
	delete(s.live, name)
	s.mu.Unlock()
}

// Delete removes the namespace; every link inside goes with it. A namespace
// already gone is not an error.
func (s *Namespaces) Delete(n *NetNS) error {
	s.forget(n.Name)
	if n.h != nil {
		_ = n.h.Close()
	}
	out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput()
	if err != nil {
		if _, statErr := os.Stat(n.Path); statErr != nil {
			return nil // already gone
		}
		return fmt.Errorf("delete netns %q: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// DeleteAll removes every namespace still registered and refuses new ones.
func (s *Namespaces) DeleteAll() error {
	s.mu.Lock()
	s.closed = true
	var all []*NetNS
	for _, n := range s.live {
		all = append(all, n)
	}
	s.mu.Unlock()
	var errs []error
	for _, n := range all {
		errs = append(errs, s.Delete(n))
	}
	return errors.Join(errs...)
}

// Live returns the number of namespaces not yet deleted.
func (s *Namespaces) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}
