package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Options configure a run.
type Options struct {
	// Pods is the number of pods of the seq and bridge-only scenarios, and
	// of the density scenario's fuller nodes.
	Pods int
	// DensityRounds is the number of probe rounds of the density scenario;
	// each probes all four of its nodes once.
	DensityRounds int
	// Ours and Reference are the two plugin sets; Reference may be the same
	// binaries as Ours to validate the benchmark itself.
	Ours, Reference PluginSet
	// Scenarios selects scenarios by name or name prefix ("seq" selects
	// seq/iptables and seq/nftables); empty runs all.
	Scenarios []string
	// StormSize concurrent ADDs then DELs, StormRounds times.
	StormSize, StormRounds int
	// IPAMLevels are the reservation counts of the ipam scenario, IPAMOps the
	// ADD+DEL pairs measured at each.
	IPAMLevels []int
	IPAMOps    int
	// OverlayPeers is the number of peers of the overlay ADD measurement;
	// IperfSeconds the length of each iperf3 run.
	OverlayPeers, IperfSeconds int
	// Command is the command line recorded in the report.
	Command string
	// Logf prints progress (stderr); nil discards it.
	Logf func(format string, args ...any)
}

// DefaultOptions are the figures of the issue: 100 pods, storm 20×3, ipam at
// 10, 1,000 and 10,000 reservations, 100 overlay peers.
func DefaultOptions() Options {
	return Options{
		Pods:          100,
		DensityRounds: 60,
		StormSize:     20,
		StormRounds:   3,
		IPAMLevels:    []int{10, 1000, 10000},
		IPAMOps:       20,
		OverlayPeers:  100,
		IperfSeconds:  5,
	}
}

// validate checks the options before anything is created.
func (o *Options) validate() error {
	switch {
	case o.Pods < 1 || o.Pods > 1000:
		return fmt.Errorf("pods %d: want 1 to 1000 (a Linux bridge takes 1024 ports)", o.Pods)
	case o.DensityRounds < 1:
		return fmt.Errorf("density rounds %d: want at least 1", o.DensityRounds)
	case o.StormSize < 1 || o.StormRounds < 1:
		return fmt.Errorf("storm %d×%d: want at least 1×1", o.StormSize, o.StormRounds)
	case o.IPAMOps < 1:
		return fmt.Errorf("ipam ops %d: want at least 1", o.IPAMOps)
	case o.OverlayPeers < 0 || o.OverlayPeers > 250:
		return fmt.Errorf("overlay peers %d: want 0 to 250", o.OverlayPeers)
	}
	for _, l := range o.IPAMLevels {
		if l < 0 || l > 60000 {
			return fmt.Errorf("ipam level %d: want 0 to 60000 (one /16)", l)
		}
	}
	for _, s := range o.Scenarios {
		if len(selectScenarios([]string{s})) == 0 {
			return fmt.Errorf("unknown scenario %q; known: %s", s, strings.Join(ScenarioNames(), ", "))
		}
	}
	return nil
}

// env is what every scenario gets: the options, the namespace registry, a
// private temp dir and whether iptables keeps its tables in nftables.
type env struct {
	opts    Options
	nss     *Namespaces
	dir     string
	xtInNFT bool
}

func (e *env) logf(format string, args ...any) {
	if e.opts.Logf != nil {
		e.opts.Logf(format, args...)
	}
}

// order returns the nodes in the order they go for pod i: reversed every
// other pod, so no set always runs on a cache another one warmed.
func (e *env) order(i int, nodes []*Node) []*Node {
	out := append([]*Node(nil), nodes...)
	if i%2 == 1 {
		for a, b := 0, len(out)-1; a < b; a, b = a+1, b-1 {
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}

// Run runs the selected scenarios and returns their report. nss receives
// every namespace created; the caller deletes them all (also on a signal).
// The error is set when the run could not start; failures and leaks found
// while benchmarking are in the report (Report.Failed).
func Run(ctx context.Context, opts Options, nss *Namespaces) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("the benchmark creates network namespaces and needs root: sudo make bench")
	}
	dir, err := os.MkdirTemp("", NamePrefix)
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	rep := &Report{
		Date:      start.UTC().Format(time.RFC3339),
		Command:   opts.Command,
		Machine:   machine(),
		Pods:      opts.Pods,
		Ours:      opts.Ours.BinDir,
		Reference: opts.Reference.BinDir,
	}
	orig := opts
	if opts.Ours, err = copySet(opts.Ours, filepath.Join(dir, "bin-ours")); err != nil {
		return nil, err
	}
	if opts.Reference, err = copySet(opts.Reference, filepath.Join(dir, "bin-reference")); err != nil {
		return nil, err
	}
	e := &env{opts: opts, nss: nss, dir: dir, xtInNFT: strings.Contains(rep.Machine.IPTables, "nf_tables")}
	for _, sc := range selectScenarios(opts.Scenarios) {
		if ctx.Err() != nil {
			break
		}
		res := runScenario(ctx, e, sc, orig)
		rep.Scenarios = append(rep.Scenarios, res)
		e.logf("%s: %s in %.1f s", res.Name, res.Status, res.Seconds)
	}
	rep.Seconds = time.Since(start).Seconds()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("run stopped: %w", context.Cause(ctx))
	}
	return rep, nil
}

// runScenario runs one scenario, or reports why it is skipped; orig are
// the options as given (e.opts run copies of the binaries).
func runScenario(ctx context.Context, e *env, sc scenario, orig Options) *Result {
	res := &Result{Name: sc.name, Description: sc.describe(e.opts), Status: StatusOK}
	start := time.Now()
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	if reason := sc.skip(orig); reason != "" {
		res.Status, res.Reason = StatusSkipped, reason
		return res
	}
	if waited, n, err := settle(ctx); err != nil {
		e.logf("%s: %v; starting anyway", sc.name, err)
	} else if waited > settleQuiet*settlePoll+time.Second {
		e.logf("%s: waited %.1f s for the kernel to free earlier network namespaces (%d left)", sc.name, waited.Seconds(), n)
	}
	e.logf("%s: %s", sc.name, res.Description)
	if err := sc.run(ctx, e, res); err != nil {
		res.fail("%v", err)
	}
	return res
}
