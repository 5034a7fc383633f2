package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// scenario is one benchmark: what it needs and how to run it.
type scenario struct {
	name     string
	describe func(Options) string
	// needs are the binaries both sets must have; oursOnly scenarios need
	// them only in ours (there is no reference counterpart).
	needs    []string
	oursOnly bool
	run      func(ctx context.Context, e *env, res *Result) error
}

// skip returns why the scenario cannot run, or "".
func (s scenario) skip(o Options) string {
	sets := []PluginSet{o.Ours, o.Reference}
	if s.oursOnly {
		sets = sets[:1]
	}
	for _, set := range sets {
		var missing []string
		for _, p := range s.needs {
			if !set.Has(p) {
				missing = append(missing, filepath.Base(set.BinDir)+"/"+p)
			}
		}
		if len(missing) > 0 {
			return fmt.Sprintf("%s not built (%s set, %s)", strings.Join(missing, ", "), set.Name, set.BinDir)
		}
	}
	return ""
}

// scenarios lists every scenario in the order a full run takes them.
func scenarios() []scenario {
	var out []scenario
	for _, b := range []string{"iptables", "nftables"} {
		out = append(out, seqScenario("seq/"+b, b, true))
	}
	out = append(out, seqScenario("bridge-only", "", false), densityScenario())
	for _, b := range []string{"iptables", "nftables"} {
		out = append(out, stormScenario("storm/"+b, b))
	}
	out = append(out, ipamScenario(), overlayScenario(), sizesScenario())
	return out
}

// ScenarioNames lists every scenario in run order.
func ScenarioNames() []string {
	var names []string
	for _, s := range scenarios() {
		names = append(names, s.name)
	}
	return names
}

// selectScenarios keeps the scenarios named by, or prefixed with "<name>/"
// by, one of names; all of them when names is empty.
func selectScenarios(names []string) []scenario {
	all := scenarios()
	if len(names) == 0 {
		return all
	}
	var out []scenario
	for _, s := range all {
		for _, n := range names {
			if s.name == n || strings.HasPrefix(s.name, n+"/") {
				out = append(out, s)
				break
			}
		}
	}
	return out
}
