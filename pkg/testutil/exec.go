package testutil

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"

	"github.com/containernetworking/cni/pkg/types"
)

// PluginRun is the outcome of running a plugin binary directly.
type PluginRun struct {
	Stdout, Stderr string
	// ExitCode is the process's exit status.
	ExitCode int
}

// CNIError decodes stdout as CNI error JSON, failing the test if it is not.
func (r PluginRun) CNIError(t TB) *types.Error {
	t.Helper()
	var e types.Error
	if err := json.Unmarshal([]byte(r.Stdout), &e); err != nil || e.Code == 0 {
		t.Fatalf("stdout is not CNI error JSON (%v): %q (stderr %q)", err, r.Stdout, r.Stderr)
	}
	return &e
}

// ExecPlugin runs a plugin binary with exactly env (no inherited variables)
// and stdin, in the given namespace (nil: the test's own), as a runtime
// would, without libcni in the way. Bad-input tests use it.
func ExecPlugin(t TB, in *NetNS, path string, env []string, stdin []byte) PluginRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	run := func() error { return cmd.Run() }
	var err error
	if in != nil {
		err = in.Do(run)
	} else {
		err = run()
	}
	res := PluginRun{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("run %s: %v", path, err)
	}
	return res
}
