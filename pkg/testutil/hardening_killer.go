package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KillArg is the CNI_ARGS key that tells a KillerShims wrapper to SIGKILL
// its plugin during ADD: "PODNET_TORTURE_KILL=<plugin>@<microseconds>". Plugins
// ignore it (runtimes send IgnoreUnknown=1).
const KillArg = "PODNET_TORTURE_KILL"

// killerShimSource is the wrapper every plugin name in a KillerShims
// directory points at. It execs the real plugin with the same argv, stdin,
// stdout, stderr and environment. When CNI_COMMAND is ADD and CNI_ARGS holds
// PODNET_TORTURE_KILL=<its name>@<µs>, it SIGKILLs the plugin after that
// delay if it is still running, records the kill as a file named
// <CNI_CONTAINERID>.<name> in markDir, and exits 137, as a runtime sees a
// plugin killed by the OOM killer or a node agent restart.
const killerShimSource = `package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var realDir, markDir string

func killDelay(name string) (time.Duration, bool) {
	if os.Getenv("CNI_COMMAND") != "ADD" {
		return 0, false
	}
	for _, kv := range strings.Split(os.Getenv("CNI_ARGS"), ";") {
		k, v, _ := strings.Cut(kv, "=")
		p, us, ok := strings.Cut(v, "@")
		if k != "` + KillArg + `" || !ok || p != name {
			continue
		}
		n, err := strconv.Atoi(us)
		return time.Duration(n) * time.Microsecond, err == nil
	}
	return 0, false
}

func main() {
	name := filepath.Base(os.Args[0])
	cmd := exec.Command(filepath.Join(realDir, name), os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		os.Exit(127)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	if d, kill := killDelay(name); kill {
		select {
		case err = <-done:
		case <-time.After(d):
			if cmd.Process.Signal(syscall.SIGKILL) == nil {
				<-done
				_ = os.WriteFile(filepath.Join(markDir, os.Getenv("CNI_CONTAINERID")+"."+name), nil, 0o600)
				os.Exit(137)
			}
			err = <-done
		}
	} else {
		err = <-done
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		os.Exit(126)
	}
}
`

// KillerShims is a CNI_PATH directory whose plugins are wrappers around the
// real binaries in BinDir that SIGKILL them mid-ADD on request (KillArg).
type KillerShims struct {
	// Dir goes first in CNI_PATH.
	Dir string
	// MarkDir holds one file per plugin process actually killed.
	MarkDir string
}

// NewKillerShims builds the wrapper once (with the Go toolchain that runs
// the test) and links each named plugin to it.
func NewKillerShims(t TB, plugins ...string) *KillerShims {
	t.Helper()
	real := BinDir(t, plugins...)
	root := t.TempDir()
	k := &KillerShims{Dir: filepath.Join(root, "bin"), MarkDir: filepath.Join(root, "kills")}
	src := filepath.Join(root, "src")
	for _, d := range []string{k.Dir, k.MarkDir, src} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module killershim\n\ngo 1.22\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(killerShimSource), 0o600); err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(k.Dir, ".killershim")
	cmd := exec.Command(goTool(), "build", "-o", shim, "-ldflags", "-X main.realDir="+real+" -X main.markDir="+k.MarkDir, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the killer shim: %v: %s", err, out)
	}
	for _, p := range plugins {
		if err := os.Symlink(shim, filepath.Join(k.Dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// Kills lists the plugin processes killed so far, as
// "<containerID>.<plugin>".
func (k *KillerShims) Kills(t TB) []string {
	t.Helper()
	return Files(t, k.MarkDir)
}

// KilledIn reports whether a plugin process of the container was killed.
func (k *KillerShims) KilledIn(t TB, containerID string) bool {
	t.Helper()
	for _, f := range k.Kills(t) {
		if strings.HasPrefix(f, containerID+".") {
			return true
		}
	}
	return false
}

// goTool finds the go command: on PATH, else where the official installer
// puts it (sudo resets PATH), else under $GOROOT.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/local/go/bin/go", filepath.Join(os.Getenv("GOROOT"), "bin", "go")} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
