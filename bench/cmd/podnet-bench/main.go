// Command podnet-bench measures podnet's plugins against the reference
// plugins side by side and prints the ratios; `sudo make bench` runs it.
// See BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/podnet/podnet/bench"
)

func main() {
	os.Exit(run())
}

// flags are the command line beyond bench.Options.
type flags struct {
	ours, ref, jsonOut, scenarios, levels string
	installRef                            bool
}

func parseFlags() (bench.Options, flags) {
	opts := bench.DefaultOptions()
	var f flags
	flag.IntVar(&opts.Pods, "pods", opts.Pods, "pods of the seq and bridge-only scenarios (250 for the 241-250 bucket), and of the density scenario's fuller nodes")
	flag.IntVar(&opts.DensityRounds, "density-rounds", opts.DensityRounds, "probe rounds of the density scenario (each probes its four nodes once)")
	flag.StringVar(&f.ours, "ours", "bin", "directory of our plugins (CNI_PATH)")
	flag.StringVar(&f.ref, "reference", filepath.Join(".cache", "reference", "bin"), "directory of the reference plugins (CNI_PATH); installed there when missing")
	flag.StringVar(&f.jsonOut, "json", "", "also write the report as JSON to this file")
	flag.StringVar(&f.scenarios, "scenarios", "", "comma-separated scenarios or prefixes to run (default all): "+strings.Join(bench.ScenarioNames(), ","))
	flag.IntVar(&opts.StormSize, "storm-size", opts.StormSize, "concurrent ADDs (then DELs) per storm round")
	flag.IntVar(&opts.StormRounds, "storm-rounds", opts.StormRounds, "storm rounds")
	flag.StringVar(&f.levels, "ipam-levels", "10,1000,10000", "reservations already in the store for the ipam scenario")
	flag.IntVar(&opts.IPAMOps, "ipam-ops", opts.IPAMOps, "ADD+DEL pairs measured at each ipam level")
	flag.IntVar(&opts.OverlayPeers, "overlay-peers", opts.OverlayPeers, "peers of the overlay ADD measurement")
	flag.IntVar(&opts.IperfSeconds, "iperf-seconds", opts.IperfSeconds, "length of each iperf3 run")
	flag.BoolVar(&f.installRef, "install-reference", false, "only install the reference plugins into -reference, then exit")
	flag.Parse()
	return opts, f
}

func run() int {
	opts, f := parseFlags()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	refDir, err := filepath.Abs(f.ref)
	if err != nil {
		logf("%v", err)
		return 2
	}
	if err := bench.EnsureReference(ctx, refDir, logf); err != nil {
		logf("%v", err)
		return 1
	}
	if f.installRef {
		return 0
	}
	oursDir, err := filepath.Abs(f.ours)
	if err != nil {
		logf("%v", err)
		return 2
	}
	opts.Ours = bench.PluginSet{Name: "ours", BinDir: oursDir}
	opts.Reference = bench.PluginSet{Name: "reference", BinDir: refDir}
	if opts.IPAMLevels, err = parseInts(f.levels); err != nil {
		logf("-ipam-levels: %v", err)
		return 2
	}
	if f.scenarios != "" {
		opts.Scenarios = strings.Split(f.scenarios, ",")
	}
	opts.Command = strings.Join(os.Args, " ")
	opts.Logf = logf
	return benchmark(ctx, cancel, opts, f.jsonOut, logf)
}

// benchmark runs the scenarios, prints the report, writes the JSON and
// returns the exit code: 1 on any failure or leak, 130 when interrupted.
func benchmark(ctx context.Context, cancel context.CancelCauseFunc, opts bench.Options, jsonOut string, logf func(string, ...any)) int {
	nss := bench.NewNamespaces()
	stop := handleSignals(cancel, nss, logf)
	defer stop()
	rep, err := bench.Run(ctx, opts, nss)
	if delErr := nss.DeleteAll(); delErr != nil {
		logf("cleanup: %v", delErr)
	}
	if rep != nil {
		rep.WriteText(os.Stdout)
		if jsonOut != "" {
			if err := rep.WriteJSON(jsonOut); err != nil {
				logf("%v", err)
				return 1
			}
		}
	}
	if err != nil {
		logf("%v", err)
		if errors.Is(err, context.Canceled) {
			return 130
		}
		return 1
	}
	if failed := rep.Failed(); len(failed) > 0 {
		logf("%d problems:\n  %s", len(failed), strings.Join(failed, "\n  "))
		return 1
	}
	return 0
}

// handleSignals cancels the run on SIGINT/SIGTERM so it cleans up; a second
// signal deletes the namespaces at once and exits.
func handleSignals(cancel context.CancelCauseFunc, nss *bench.Namespaces, logf func(string, ...any)) func() {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		logf("%v: stopping, deleting the namespaces", sig)
		cancel(fmt.Errorf("%w: %v", context.Canceled, sig))
		if _, ok := <-ch; ok {
			_ = nss.DeleteAll()
			os.Exit(130)
		}
	}()
	return func() { signal.Stop(ch); close(ch) }
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var v int
		if _, err := fmt.Sscanf(strings.TrimSpace(f), "%d", &v); err != nil {
			return nil, fmt.Errorf("%q: not a number", f)
		}
		out = append(out, v)
	}
	return out, nil
}
