package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ReferenceModule and ReferenceVersion name the yardstick: the reference
// plugins podnet replaces.
const (
	ReferenceModule  = "github.com/containernetworking/plugins"
	ReferenceVersion = "v1.9.1"
)

// referencePackages are the reference plugins the benchmark runs.
var referencePackages = []string{"main/bridge", "ipam/host-local", "meta/portmap", "main/loopback"}

// referenceBuildFlags are the flags of make build, so sizes compare.
var referenceBuildFlags = []string{"-trimpath", "-ldflags=-s -w"}

// ReferenceDir is where make bench keeps the reference binaries:
// <repo>/.cache/reference/bin (git-ignored).
func ReferenceDir(repo string) string {
	return filepath.Join(repo, ".cache", "reference", "bin")
}

// EnsureReference installs the reference plugins into dir with `go install
// <module>/plugins/<pkg>@<version>` (CGO_ENABLED=0, the flags of make
// build), unless a previous install with the same version, flags and Go
// left its stamp there. Only the Go module proxy is needed. logf may be nil.
func EnsureReference(ctx context.Context, dir string, logf func(string, ...any)) error {
	goBin, err := goTool()
	if err != nil {
		return err
	}
	stamp := referenceStamp(goBin)
	stampFile := filepath.Join(dir, ".stamp")
	if b, err := os.ReadFile(stampFile); err == nil && string(b) == stamp {
		if (PluginSet{Name: "reference", BinDir: dir}).Missing("bridge", "host-local", "portmap", "loopback") == nil {
			return nil
		}
	}
	if err := refuseForeignPlugins(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create reference dir %s: %w", dir, err)
	}
	args := append([]string{"install"}, referenceBuildFlags...)
	for _, p := range referencePackages {
		args = append(args, fmt.Sprintf("%s/plugins/%s@%s", ReferenceModule, p, ReferenceVersion))
	}
	if logf != nil {
		logf("installing the reference plugins %s into %s", ReferenceVersion, dir)
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("install reference plugins (%s %s): %w: %s", goBin, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	if err := os.WriteFile(stampFile, []byte(stamp), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", stampFile, err)
	}
	return nil
}

// refuseForeignPlugins keeps EnsureReference from installing over plugins
// that are not an earlier reference install (its stamp names the
// reference module): `-reference bin` once replaced podnet's own build.
func refuseForeignPlugins(dir string) error {
	if b, err := os.ReadFile(filepath.Join(dir, ".stamp")); err == nil && strings.HasPrefix(string(b), ReferenceModule+"@") {
		return nil // an older reference install: replace it
	}
	for _, p := range referencePackages {
		name := filepath.Base(p)
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("reference dir %s already holds a %s plugin that is not a reference install (no reference .stamp); "+
				"refusing to overwrite it: give -reference a directory of its own", dir, name)
		}
	}
	return nil
}

// referenceStamp identifies an install: module, version, flags, toolchain.
func referenceStamp(goBin string) string {
	ver := runtime.Version()
	if out, err := exec.Command(goBin, "env", "GOVERSION").Output(); err == nil {
		ver = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s@%s %v %s CGO_ENABLED=0\n", ReferenceModule, ReferenceVersion, referenceBuildFlags, ver)
}

// goTool finds the go command: $PATH, then where the official installer
// puts it (sudo resets PATH), then $GOROOT.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/local/go/bin/go", filepath.Join(os.Getenv("GOROOT"), "bin", "go")} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("go command not found in $PATH or /usr/local/go/bin: needed to install the reference plugins")
}
