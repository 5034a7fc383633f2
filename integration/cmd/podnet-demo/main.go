// Command podnet-demo is `make demo`: a three-node pod network on one
// machine, built by podnet's plugins through libcni, checked, torn down and
// proven clean. With --keep the cluster stays up for exploring; `make
// demo-clean` removes it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/podnet/podnet/integration/demo"
)

func main() {
	keep := flag.Bool("keep", false, "leave the cluster up and print commands to explore it")
	nodes := flag.Int("nodes", 3, "number of nodes")
	pods := flag.Int("pods", 2, "pods per node")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "usage: podnet-demo [--keep] [--nodes N] [--pods N]\n")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "podnet-demo needs root (network namespaces): sudo make demo")
		os.Exit(1)
	}
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), demo.NetNSPrefix) {
		fmt.Fprintln(os.Stderr, "a kept demo cluster is still up; remove it first with: sudo make demo-clean")
		os.Exit(1)
	}
	os.Exit(run(demo.Options{Nodes: *nodes, PodsPerNode: *pods, Keep: *keep}))
}

func run(opts demo.Options) (code int) {
	r := &demo.Runner{}
	start := time.Now()
	defer func() {
		if code != 0 || !opts.Keep {
			r.RunCleanups()
			_ = os.RemoveAll(demo.StateDir)
		}
	}()
	err := func() (err error) {
		defer demo.Recover(&err)
		return demo.Run(r, os.Stdout, opts)
	}()
	if err == nil && r.Failed() {
		err = fmt.Errorf("errors were reported above")
	}
	if err != nil {
		fmt.Printf("\nFAILED: %v\ncleaning up.\n", err)
		return 1
	}
	if opts.Keep {
		return 0
	}
	r.RunCleanups()
	out, _ := exec.Command("ip", "netns", "list").Output()
	if left := strings.Count(string(out), demo.NetNSPrefix); left > 0 {
		fmt.Printf("\nFAILED: %d demo namespaces left after cleanup:\n%s", left, out)
		return 1
	}
	fmt.Printf("\nall green in %.1fs; 0 namespaces, links, reservations or rules left behind.\n", time.Since(start).Seconds())
	return 0
}
