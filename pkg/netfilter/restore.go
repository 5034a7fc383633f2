package netfilter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Family is an IP family for the iptables backend.
type Family int

// The families: iptables and ip6tables.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// xtablesWait is how long (seconds) the iptables tools wait for the xtables
// lock before failing. Busy nodes (kube-proxy rewriting thousands of rules)
// hold it for seconds at a time; a plugin that gave up after 5 s, as many
// callers do, failed pod starts there. The runtime's own timeout still
// bounds the whole call.
const xtablesWait = "60"

// restoreTool is the restore binary of a family.
func (f Family) restoreTool() string {
	if f == IPv6 {
		return "ip6tables-restore"
	}
	return "iptables-restore"
}

// saveTool is the save binary of a family.
func (f Family) saveTool() string {
	if f == IPv6 {
		return "ip6tables-save"
	}
	return "iptables-save"
}

// Restorer applies iptables-restore input and reads iptables-save output.
// The real one execs the tools; tests use a fake that records the input.
type Restorer interface {
	// Restore applies input (in iptables-restore format, with *table and
	// COMMIT lines) with --noflush, atomically per table, waiting for the
	// xtables lock (up to 60 s) instead of failing.
	Restore(ctx context.Context, f Family, input string) error
	// Save returns `iptables-save -t table` for the family. A table that
	// does not exist yet gives an empty string and no error.
	Save(ctx context.Context, f Family, table string) (string, error)
}

// ExecRestorer is the Restorer that runs the iptables tools.
type ExecRestorer struct{}

// Restore is part of Restorer.
func (ExecRestorer) Restore(ctx context.Context, f Family, input string) error {
	cmd := exec.CommandContext(ctx, f.restoreTool(), "--noflush", "--wait", xtablesWait)
	cmd.Stdin = strings.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s\ninput:\n%s", f.restoreTool(), err, strings.TrimSpace(stderr.String()), input)
	}
	return nil
}

// Save is part of Restorer.
func (ExecRestorer) Save(ctx context.Context, f Family, table string) (string, error) {
	out, err := exec.CommandContext(ctx, f.saveTool(), "-t", table).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("%s -t %s: %w: %s", f.saveTool(), table, err, ee.Stderr)
		}
		return "", fmt.Errorf("%s -t %s: %w", f.saveTool(), table, err)
	}
	return string(out), nil
}
