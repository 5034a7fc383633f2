package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// RepoRoot is the directory holding go.mod, found by walking up from the
// test's working directory.
func RepoRoot(t TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// BinDir is where the built plugins are: $PODNET_BIN_DIR, else <repo>/bin.
// It fails the test when a named plugin is missing, with the command that
// builds it.
func BinDir(t TB, plugins ...string) string {
	t.Helper()
	dir := os.Getenv("PODNET_BIN_DIR")
	if dir == "" {
		dir = filepath.Join(RepoRoot(t), "bin")
	}
	for _, p := range plugins {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Fatalf("plugin %q not found in %s: run `make build` first (%v)", p, dir, err)
		}
	}
	return dir
}

// ToolPath finds a helper tool the tests run: $PODNET_TOOLS_DIR/<name>,
// <repo>/.tools/bin/<name>, then $PATH. It fails the test with the make
// target that installs it.
func ToolPath(t TB, name string) string {
	t.Helper()
	candidates := []string{}
	if d := os.Getenv("PODNET_TOOLS_DIR"); d != "" {
		candidates = append(candidates, filepath.Join(d, name))
	}
	candidates = append(candidates, filepath.Join(RepoRoot(t), ".tools", "bin", name))
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("tool %q not found: run `make deps`", name)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func errorsIsNotExist(err error) bool { return os.IsNotExist(err) }
