package netfilter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// hpIPTables is HostPorts on iptables. Per-pod rules cannot be avoided
// here, but each verb costs one iptables-restore per family (plus one
// iptables-save per family for DEL, CHECK and GC), never a probe.
type hpIPTables struct {
	r Restorer
	// inUse reports whether a family may hold rules of ours; DEL and GC
	// skip the others without running iptables-save.
	inUse    func(Family) bool
	sysctl   hpSysctl
	lockPath string
	log      *slog.Logger
}

// hpFamilies runs fn for IPv4 and then IPv6 (when asked) and joins the
// errors. Not in parallel: goroutines would run on threads that may not be
// in the caller's network namespace (a test's ns.Do), and the iptables
// tools they exec would then act on the wrong node.
func hpFamilies(v4, v6 bool, fn func(v6 bool) error) error {
	var errs []error
	for i, on := range []bool{v4, v6} {
		if on {
			errs = append(errs, fn(i == 1))
		}
	}
	return errors.Join(errs...)
}

func hpFamilyOf(v6 bool) Family {
	if v6 {
		return IPv6
	}
	return IPv4
}

// EnsureHostPorts is part of HostPorts. The hot path is one blind
// iptables-restore per family; only when it fails (first pod on the node,
// or scaffolding deleted by someone) does it save, create the missing
// scaffolding under the exclusive lock, and try once more.
func (h *hpIPTables) EnsureHostPorts(ctx context.Context, spec HostPortSpec) error {
	if len(spec.Mappings) == 0 {
		return nil
	}
	localnet, err := hpNeedLocalnet(h.sysctl, &spec)
	if err != nil {
		return err
	}
	v4, v6 := spec.families()
	err = hpFamilies(v4, v6, func(v6 bool) error { return h.ensureFamily(ctx, &spec, v6, localnet) })
	if err != nil || localnet == "" || !v4 {
		return err
	}
	return h.sysctl.SetRouteLocalnet(localnet, true)
}

func (h *hpIPTables) ensureFamily(ctx context.Context, spec *HostPortSpec, v6 bool, localnet string) error {
	f := hpFamilyOf(v6)
	input := hpIPTAddInput(spec, v6, localnet)
	if err := h.restore(ctx, f, input, false); err == nil {
		return nil
	} else if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("add host ports of %s: %w", spec.Owner.Tag(), err)
	}
	if err := h.ensureScaffold(ctx, f, spec.MarkMasqBit); err != nil {
		return err
	}
	if err := h.restore(ctx, f, input, false); err != nil {
		return fmt.Errorf("add host ports of %s: %w", spec.Owner.Tag(), err)
	}
	return nil
}

// restore runs one iptables-restore under the host-port lock.
func (h *hpIPTables) restore(ctx context.Context, f Family, input string, exclusive bool) error {
	unlock, err := hpLock(h.lockPath, exclusive)
	if err != nil {
		return err
	}
	defer unlock()
	return h.r.Restore(ctx, f, input)
}

// ensureScaffold creates the node-wide chains and jumps that are missing.
func (h *hpIPTables) ensureScaffold(ctx context.Context, f Family, markBit int) error {
	unlock, err := hpLock(h.lockPath, true)
	if err != nil {
		return err
	}
	defer unlock()
	nat, filter, err := h.save(ctx, f, f == IPv4)
	if err != nil {
		return err
	}
	input := hpIPTScaffoldInput(nat, filter, f == IPv6, markBit)
	if input == "" {
		return nil
	}
	h.log.Info("creating host-port scaffolding", "family", int(f))
	if err := h.r.Restore(ctx, f, input); err != nil {
		return fmt.Errorf("create host-port chains: %w", err)
	}
	return nil
}

// save reads the nat table and, when asked, the filter table.
func (h *hpIPTables) save(ctx context.Context, f Family, withFilter bool) (nat, filter *hpIPTTable, err error) {
	out, err := h.r.Save(ctx, f, "nat")
	if err != nil {
		return nil, nil, err
	}
	nat, filter = hpParseSave(out), hpParseSave("")
	if withFilter {
		out, err := h.r.Save(ctx, f, "filter")
		if err != nil {
			return nil, nil, err
		}
		filter = hpParseSave(out)
	}
	return nat, filter, nil
}

// CheckHostPorts is part of HostPorts.
func (h *hpIPTables) CheckHostPorts(ctx context.Context, spec HostPortSpec) error {
	v4, v6 := spec.families()
	return hpFamilies(v4, v6, func(v6 bool) error {
		nat, _, err := h.save(ctx, hpFamilyOf(v6), false)
		if err != nil {
			return err
		}
		if err := hpIPTCheck(nat, &spec, v6); err != nil {
			return fmt.Errorf("check host ports of %s (%s): %w", spec.Owner.Tag(), hpFamilyOf(v6).saveTool(), err)
		}
		return nil
	})
}

// hpIPTCheck compares the saved nat table with the owner's plan.
func hpIPTCheck(nat *hpIPTTable, spec *HostPortSpec, v6 bool) error {
	chain := hpIPTPodChain(spec.Owner)
	if !nat.chains[chain] {
		return fmt.Errorf("chain %s is missing", chain)
	}
	want, got := hpIPTPodRules(spec, v6), nat.rules[chain]
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		return fmt.Errorf("chain %s has rules %q, want %q", chain, got, want)
	}
	for _, j := range hpIPTJumps(spec, v6) {
		ports := hpIPTOpt(j, "--dports")
		found := false
		for _, r := range nat.rules[hpIPTDNAT] {
			found = found || (hpIPTTarget(r) == chain && hpIPTOpt(r, "--dports") == ports)
		}
		if !found {
			return fmt.Errorf("no rule in %s sends %s ports %s to %s", hpIPTDNAT, hpIPTOpt(j, "-p"), ports, chain)
		}
	}
	for _, c := range []string{"PREROUTING", "OUTPUT"} {
		if !nat.hasRule(c, hpIPTLocalRule) {
			return fmt.Errorf("chain %s lacks %q", c, hpIPTLocalRule)
		}
	}
	if spec.SNAT && spec.ExternalSetMarkChain == "" {
		if !nat.hasRule("POSTROUTING", hpIPTMasqJump) || !nat.hasRule(hpIPTMasq, hpIPTMasqRule(spec.MarkMasqBit)) ||
			!nat.hasRule(hpIPTSetMark, hpIPTSetMarkRule(spec.MarkMasqBit)) {
			return fmt.Errorf("masquerade chains %s/%s or their POSTROUTING jump are missing or use another mark bit than %d",
				hpIPTSetMark, hpIPTMasq, spec.MarkMasqBit)
		}
	}
	return nil
}

// DeleteHostPorts is part of HostPorts: per family one save, and one
// restore only when the owner has rules. The keys are not needed: the save
// shows the owner's chain.
func (h *hpIPTables) DeleteHostPorts(ctx context.Context, owner HostPortOwner, _ []HostPortKey) ([]HostPort, error) {
	var removed []HostPort
	err := hpFamilies(true, true, func(v6 bool) error {
		f := hpFamilyOf(v6)
		if h.inUse != nil && !h.inUse(f) {
			return nil
		}
		unlock, err := hpLock(h.lockPath, false)
		if err != nil {
			return err
		}
		defer unlock()
		nat, _, err := h.save(ctx, f, false)
		if errors.Is(err, exec.ErrNotFound) {
			return nil // no iptables here, so no rules of ours
		} else if err != nil {
			return err
		}
		input, gone := hpIPTDeleteInput(nat, owner)
		if input == "" {
			return nil
		}
		if err := h.r.Restore(ctx, f, input); err != nil {
			return fmt.Errorf("delete host ports of %s: %w", owner.Tag(), err)
		}
		removed = append(removed, gone...)
		return nil
	})
	return removed, err
}

// GCHostPorts is part of HostPorts: per family one save of nat and filter
// and at most one restore.
func (h *hpIPTables) GCHostPorts(ctx context.Context, network string, valid []HostPortOwner) ([]HostPort, error) {
	var removed []HostPort
	err := hpFamilies(true, true, func(v6 bool) error {
		gone, err := h.gcFamily(ctx, hpFamilyOf(v6), network, valid)
		removed = append(removed, gone...)
		return err
	})
	return removed, err
}

func (h *hpIPTables) gcFamily(ctx context.Context, f Family, network string, valid []HostPortOwner) ([]HostPort, error) {
	if h.inUse != nil && !h.inUse(f) {
		return nil, nil
	}
	unlock, err := hpLock(h.lockPath, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	nat, filter, err := h.save(ctx, f, f == IPv4)
	if errors.Is(err, exec.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	targets, left := hpIPTStale(nat, network, valid)
	natPart, gone := hpIPTRemoveChains(nat, targets)
	natPart = strings.TrimSuffix(strings.TrimPrefix(natPart, "*nat\n"), "COMMIT\n")
	filterPart := ""
	if left == 0 {
		scaffold, fp, ifaces := hpIPTScaffoldRemoval(nat, filter, f == IPv6)
		for _, i := range ifaces {
			if err := hpResetLocalnetOf(h.sysctl, i, h.log); err != nil {
				return nil, err
			}
		}
		natPart, filterPart = natPart+scaffold, fp
	}
	input := ""
	if natPart != "" {
		input = "*nat\n" + natPart + "COMMIT\n"
	}
	if filterPart != "" {
		input += "*filter\n" + filterPart + "COMMIT\n"
	}
	if input == "" {
		return nil, nil
	}
	if err := h.r.Restore(ctx, f, input); err != nil {
		return nil, fmt.Errorf("garbage-collect host ports of network %q: %w", network, err)
	}
	return gone, nil
}
