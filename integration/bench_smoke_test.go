package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/bench"
	"github.com/podnet/podnet/pkg/testutil"
)

// TestBenchSmoke runs the benchmark's seq scenarios (both netfilter
// backends) with 3 pods, ours against the reference plugins installed the
// way `make bench` installs them, and requires that it completes with every
// figure measured for both sets, no failure and no leak, and that no
// benchmark namespace is left behind. It is not a benchmark: make bench is.
func TestBenchSmoke(t *testing.T) {
	testutil.RequireRoot(t)
	repo := testutil.RepoRoot(t)
	binDir := os.Getenv("PODNET_BIN_DIR")
	if binDir == "" {
		binDir = filepath.Join(repo, "bin")
	}
	ours := bench.PluginSet{Name: "ours", BinDir: binDir}
	if err := ours.Missing("bridge", "host-local", "portmap", "loopback"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v: run `make build`", err)
		}
		t.Skipf("%v: the plugins are not all written yet; once they are, run `make build`", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	refDir := bench.ReferenceDir(repo)
	if err := bench.EnsureReference(ctx, refDir, t.Logf); err != nil {
		t.Fatal(err)
	}

	opts := bench.DefaultOptions()
	opts.Pods = 3
	opts.Scenarios = []string{"seq"}
	opts.Ours = ours
	opts.Reference = bench.PluginSet{Name: "reference", BinDir: refDir}
	opts.Command = "TestBenchSmoke"
	opts.Logf = t.Logf
	nss := bench.NewNamespaces()
	t.Cleanup(func() {
		if err := nss.DeleteAll(); err != nil {
			t.Error(err)
		}
	})
	rep, err := bench.Run(ctx, opts, nss)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.WriteText(&out)
	t.Log("\n" + out.String())
	if failed := rep.Failed(); len(failed) > 0 {
		t.Fatalf("benchmark found %d problems:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	if len(rep.Scenarios) != 2 {
		t.Fatalf("ran %d scenarios, want seq/iptables and seq/nftables", len(rep.Scenarios))
	}
	for _, s := range rep.Scenarios {
		if s.Status != bench.StatusOK {
			t.Fatalf("%s: status %s (%s)", s.Name, s.Status, s.Reason)
		}
		checkMeasured(t, s)
	}
	if n := nss.Live(); n != 0 {
		t.Fatalf("%d benchmark namespaces still registered after the run", n)
	}
	if err := nss.DeleteAll(); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	prefix := sprintf("%s%d-", bench.NamePrefix, os.Getpid())
	if strings.Contains(string(list), prefix) {
		t.Fatalf("namespaces %s* left behind:\n%s", prefix, list)
	}
}

// checkMeasured requires the ADD and DEL rows of every pod to hold 3
// samples for both sets, and the netfilter count at 3 pods to exceed the
// count after the warm-up for the reference (one port mapping per pod).
func checkMeasured(t *testing.T, s *bench.Result) {
	t.Helper()
	rows := map[string]bench.Row{}
	for _, tab := range s.Tables {
		for _, r := range tab.Rows {
			rows[r.Label] = r
		}
	}
	for _, label := range []string{"ADD all", "DEL all", "ADD lo", "DEL lo"} {
		r, ok := rows[label]
		if !ok {
			t.Fatalf("%s: no %q row", s.Name, label)
		}
		if r.Ours.N != 3 || r.Reference.N != 3 || r.Ratio == nil || r.Ours.P50 <= 0 || r.Reference.P50 <= 0 {
			t.Fatalf("%s: row %q = %+v, want 3 samples each and a ratio", s.Name, label, r)
		}
	}
	base, full := rows["0 pods (after 1 ADD+DEL)"], rows["3 pods"]
	if full.Reference.P50 <= base.Reference.P50 {
		t.Fatalf("%s: reference netfilter lines %v at 3 pods, %v at 0: the count does not see the port mappings", s.Name, full.Reference.P50, base.Reference.P50)
	}
}
