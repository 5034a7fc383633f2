package bench

import (
	"strings"
	"testing"
)

func TestReportText(t *testing.T) {
	rep := &Report{Pods: 3, Machine: Machine{Cores: 2, Kernel: "6.1", Go: "go1.26"}, Scenarios: []*Result{
		{Name: "seq/iptables", Description: "d", Status: StatusOK, Tables: []Table{{
			Title: "latency", Unit: "ms", Columns: [2]string{"ours", "reference"},
			Rows: []Row{newRow("ADD all", Summarize([]float64{1, 2, 3}), Summarize([]float64{2, 4, 6}))},
		}}},
		{Name: "sizes", Description: "d", Status: StatusOK, Tables: []Table{{
			Title: "binary size", Unit: "bytes", Columns: [2]string{"ours", "reference"},
			Rows: []Row{newRow("bridge", Value(1000), Value(4000)), newRow("vxlan", Value(2000), Summary{})},
		}}},
		{Name: "overlay", Description: "d", Status: StatusSkipped, Reason: "bin/vxlan not built"},
		{Name: "ipam", Description: "d", Status: StatusFailed, Problems: []string{"leak on ours node: x"}},
	}}
	var b strings.Builder
	rep.WriteText(&b)
	out := b.String()
	requireLines(t, "report", out,
		"ours p50    p90    p99  reference p50    p90    p99  ratio p50",
		"ADD all     2.000  2.800  2.980          4.000  5.600  5.960      0.50x",
		"bridge  1000       4000  0.25x",
		"vxlan   2000          -      -",
		"skipped: bin/vxlan not built",
		"FAILED: leak on ours node: x",
		"ok: seq/iptables, sizes; skipped: overlay; failed: ipam",
	)
	if got := rep.Failed(); len(got) != 1 || got[0] != "ipam: leak on ours node: x" {
		t.Errorf("Failed() = %q", got)
	}
}

// requireLines fails t for every want that out (a rendered what) lacks.
func requireLines(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %q:\n%s", what, want, out)
		}
	}
}

func TestParseIperf(t *testing.T) {
	v, err := parseIperf(`{"start":{},"end":{"sum_received":{"bits_per_second":2.5e9}}}`)
	if err != nil || v != 2500 {
		t.Fatalf("parseIperf = %v, %v; want 2500 Mbit/s", v, err)
	}
	if _, err := parseIperf(`{"error":"unable to connect to server"}`); err == nil || !strings.Contains(err.Error(), "unable to connect") {
		t.Fatalf("parseIperf of an error = %v", err)
	}
}

func TestSelectScenarios(t *testing.T) {
	var names []string
	for _, s := range selectScenarios([]string{"seq", "ipam"}) {
		names = append(names, s.name)
	}
	if strings.Join(names, ",") != "seq/iptables,seq/nftables,ipam" {
		t.Fatalf("selected %v", names)
	}
	o := DefaultOptions()
	o.Scenarios = []string{"nope"}
	if err := o.validate(); err == nil || !strings.Contains(err.Error(), "unknown scenario") {
		t.Fatalf("validate = %v", err)
	}
	if len(selectScenarios(nil)) != len(ScenarioNames()) {
		t.Fatal("no selection should run every scenario")
	}
}

func TestScenarioSkip(t *testing.T) {
	dir := t.TempDir()
	o := Options{Ours: PluginSet{Name: "ours", BinDir: dir + "/bin"}, Reference: PluginSet{Name: "reference", BinDir: dir}}
	if got := overlayScenario().skip(o); !strings.HasPrefix(got, "bin/bridge, bin/host-local, bin/vxlan, bin/loopback not built") {
		t.Fatalf("skip = %q", got)
	}
}
