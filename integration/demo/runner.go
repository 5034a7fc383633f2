package demo

import (
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
)

// NetNSPrefix starts the name of every namespace the demo creates; `make
// demo-clean` removes namespaces with this prefix.
const NetNSPrefix = "podnet-demo-"

// StateDir holds a kept demo's conflists, dataDirs and caches.
const StateDir = "/tmp/podnet-demo"

// fatal is the panic value Runner.Fatal uses to unwind to Main.
type fatal struct{ msg string }

// Runner is the testutil.TB of the demo program: a failure prints what
// failed and unwinds; cleanups run in reverse order unless the cluster is
// kept.
type Runner struct {
	cleanups []func()
	dirs     atomic.Int64
	failed   bool
}

// Helper is part of testutil.TB.
func (r *Runner) Helper() {}

// Name is part of testutil.TB.
func (r *Runner) Name() string { return "podnet-demo" }

// NetNSPrefix makes the harness name namespaces "podnet-demo-<n>-<role>".
func (r *Runner) NetNSPrefix() string { return NetNSPrefix }

// Cleanup is part of testutil.TB.
func (r *Runner) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }

// TempDir is part of testutil.TB: a fresh directory under StateDir.
func (r *Runner) TempDir() string {
	d := filepath.Join(StateDir, fmt.Sprintf("tmp%d", r.dirs.Add(1)))
	if err := os.MkdirAll(d, 0o700); err != nil {
		r.Fatalf("create %s: %v", d, err)
	}
	return d
}

// Log is part of testutil.TB.
func (r *Runner) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }

// Logf is part of testutil.TB.
func (r *Runner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// Error is part of testutil.TB.
func (r *Runner) Error(args ...any) { r.failed = true; r.Log(append([]any{"error:"}, args...)...) }

// Errorf is part of testutil.TB.
func (r *Runner) Errorf(format string, args ...any) {
	r.failed = true
	r.Logf("error: "+format, args...)
}

// Fatal is part of testutil.TB.
func (r *Runner) Fatal(args ...any) { panic(fatal{fmt.Sprint(args...)}) }

// Fatalf is part of testutil.TB.
func (r *Runner) Fatalf(format string, args ...any) { panic(fatal{fmt.Sprintf(format, args...)}) }

// Skip is part of testutil.TB; the demo has nothing optional, so it fails.
func (r *Runner) Skip(args ...any) { r.Fatal(args...) }

// Skipf is part of testutil.TB.
func (r *Runner) Skipf(format string, args ...any) { r.Fatalf(format, args...) }

// RunCleanups runs the registered cleanups, newest first.
func (r *Runner) RunCleanups() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
	r.cleanups = nil
}

// Failed reports whether Error or Errorf was called.
func (r *Runner) Failed() bool { return r.failed }

// Recover turns a Fatal panic into an error; other panics propagate.
func Recover(err *error) {
	if v := recover(); v != nil {
		f, ok := v.(fatal)
		if !ok {
			panic(v)
		}
		*err = fmt.Errorf("%s", f.msg)
	}
}
