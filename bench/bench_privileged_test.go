package bench

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/testutil"
)

// referenceSet returns the reference plugins make bench-reference installed,
// skipping the test when they are not there (failing under CI, where
// make test-privileged installs them first).
func referenceSet(t *testing.T) PluginSet {
	t.Helper()
	testutil.RequireRoot(t)
	dir, err := filepath.Abs(filepath.Join("..", ".cache", "reference", "bin"))
	if err != nil {
		t.Fatal(err)
	}
	set := PluginSet{Name: "reference", BinDir: dir}
	if err := set.Missing("bridge", "host-local", "portmap", "loopback"); err != nil {
		if testutil.InCI() {
			t.Fatalf("%v: make test-privileged runs `make bench-reference` first", err)
		}
		t.Skipf("%v: run `make bench-reference`", err)
	}
	return set
}

// wrappedSet is the reference set with one plugin replaced by a shell
// script; script runs first and may exit, else the real plugin runs.
func wrappedSet(t *testing.T, ref PluginSet, plugin, script string) PluginSet {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if p == plugin {
			body := "#!/bin/sh\n" + script + "\nexec " + filepath.Join(ref.BinDir, p) + "\n"
			if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(filepath.Join(ref.BinDir, p), filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	return PluginSet{Name: "ours", BinDir: dir}
}

func runSmall(t *testing.T, ours, ref PluginSet, scenario string) (*Report, *Namespaces) {
	t.Helper()
	o := DefaultOptions()
	o.Pods, o.Ours, o.Reference, o.Scenarios = 2, ours, ref, []string{scenario}
	return runOptions(t, o)
}

// runOptions runs o and requires every namespace it created to be gone.
func runOptions(t *testing.T, o Options) (*Report, *Namespaces) {
	t.Helper()
	nss := NewNamespaces()
	t.Cleanup(func() { _ = nss.DeleteAll() })
	rep, err := Run(context.Background(), o, nss)
	if err != nil {
		t.Fatal(err)
	}
	if n := nss.Live(); n != 0 {
		t.Fatalf("%d namespaces still registered after the run", n)
	}
	return rep, nss
}

// A portmap whose DEL does nothing leaves its DNAT rules behind: the
// benchmark must call that a leak of ours, and find nothing on the
// reference node.
func TestPrivilegedLeakIsFound(t *testing.T) {
	ref := referenceSet(t)
	leaky := wrappedSet(t, ref, "portmap", `[ "$CNI_COMMAND" = DEL ] && exit 0`)
	rep, _ := runSmall(t, leaky, ref, "seq/iptables")
	problems := rep.Failed()
	if len(problems) == 0 {
		t.Fatal("no leak found, want portmap's rules left on the ours node")
	}
	for _, p := range problems {
		if !strings.HasPrefix(p, "seq/iptables: leak on ours node: netfilter: +") && !strings.HasPrefix(p, "seq/iptables: leak on ours node: ... and ") {
			t.Errorf("unexpected problem %q", p)
		}
	}
	if !strings.Contains(strings.Join(problems, "\n"), "CNI-DN-") {
		t.Errorf("the leftovers do not name portmap's per-pod chain:\n%s", strings.Join(problems, "\n"))
	}
}

// A failing ADD fails the scenario with the plugin's error and leaves no
// namespace behind.
func TestPrivilegedFailureIsReported(t *testing.T) {
	ref := referenceSet(t)
	broken := wrappedSet(t, ref, "bridge",
		`[ "$CNI_COMMAND" = ADD ] && { echo '{"code":11,"msg":"bench test: try again later"}'; exit 1; }`)
	rep, _ := runSmall(t, broken, ref, "bridge-only")
	problems := rep.Failed()
	if len(problems) != 1 || !strings.Contains(problems[0], "ours: ADD pnb-bridge-only pod 0") || !strings.Contains(problems[0], "try again later") {
		t.Fatalf("problems = %q, want the warm-up ADD's error", problems)
	}
}

// The density scenario fills one node per set with pods, probes it and the
// emptier one in turn, and leaves nothing behind: every probe measured on
// all four nodes, no failure, no namespace left.
func TestPrivilegedDensity(t *testing.T) {
	ref := referenceSet(t)
	o := DefaultOptions()
	o.Pods, o.DensityRounds, o.Ours, o.Reference, o.Scenarios = 4, 3, ref, ref, []string{"density"}
	rep, _ := runOptions(t, o)
	if p := rep.Failed(); len(p) > 0 {
		t.Fatalf("problems: %q", p)
	}
	rows := rep.Scenarios[0].Tables[0].Rows
	var labels []string
	for _, r := range rows {
		labels = append(labels, r.Label)
		want := 3
		if strings.Contains(r.Label, "growth") {
			want = 1
		}
		if r.Ours.N != want || r.Reference.N != want {
			t.Errorf("%s: %d and %d samples, want %d each", r.Label, r.Ours.N, r.Reference.N, want)
		}
	}
	if got := strings.Join(labels, "; "); got != "ADD with 2 pods; ADD with 4 pods; ADD growth, 4 / 2 pods; DEL with 2 pods; DEL with 4 pods; DEL growth, 4 / 2 pods" {
		t.Errorf("rows: %s", got)
	}
}
