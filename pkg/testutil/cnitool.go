package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// CNITool runs the upstream cnitool binary the way an operator does by hand:
// `cnitool <verb> <network> <netns path>`, with NETCONFPATH and CNI_PATH set,
// with node as the current network namespace. cnitool has no cache-dir
// option, so it runs in a private mount namespace where a temp directory is
// bind-mounted over /var/lib/cni: its result cache stays in the test.
type CNITool struct {
	Node       *Node
	Bin        string
	NetConfDir string
	CNIPath    string
	cacheDir   string
}

// NewCNITool prepares cnitool for node with conflists in netConfDir.
func NewCNITool(t TB, node *Node, netConfDir string, plugins ...string) *CNITool {
	t.Helper()
	return &CNITool{
		Node:       node,
		Bin:        ToolPath(t, "cnitool"),
		NetConfDir: netConfDir,
		CNIPath:    BinDir(t, plugins...),
		cacheDir:   t.TempDir(),
	}
}

// Run executes `cnitool args...` and returns its combined output. env adds
// variables such as CAP_ARGS or CNI_ARGS.
func (c *CNITool) Run(env []string, args ...string) (string, error) {
	if err := os.MkdirAll("/var/lib/cni", 0o700); err != nil {
		return "", err
	}
	// The script is fixed; every value reaches it as a positional argument.
	script := `mount --bind "$1" /var/lib/cni && shift && exec "$@"`
	full := append([]string{"--net=" + c.Node.Path, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", script, "sh", c.cacheDir, c.Bin}, args...)
	cmd := exec.Command("nsenter", full...)
	cmd.Env = append(os.Environ(), "NETCONFPATH="+c.NetConfDir, "CNI_PATH="+c.CNIPath)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("cnitool %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// CachedResults lists cnitool's cached results.
func (c *CNITool) CachedResults(t TB) []string {
	t.Helper()
	return Files(t, filepath.Join(c.cacheDir, "results"))
}
