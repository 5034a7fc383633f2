package overlay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/podnet/podnet/pkg/netfilter"
)

// Reconciler converges a node's overlay to a Config.
type Reconciler struct {
	Kernel Kernel
	// Masq returns the masquerader of a backend ("" means the node's
	// choice). nil makes ipMasq an error and skips masquerade teardown.
	Masq func(netfilter.Backend) (netfilter.Masquerader, error)
	// Lock takes the node-wide lock of an overlay (Config.LockPath) and
	// returns its release. nil means no locking.
	Lock func(path string) (unlock func(), err error)
	// Log receives the decisions: each op applied and why.
	Log *slog.Logger
}

// Change is what Reconcile did, so that a failed ADD can undo it.
type Change struct {
	// Ops are the ops applied, in order; empty when the overlay already
	// matched.
	Ops []Op
	// MTU is the device's MTU: what pods must not exceed.
	MTU int
	// Underlay is the resolved underlay.
	Underlay Underlay
	// masqAdded is the owner whose masquerade rules Reconcile installed.
	masqAdded netfilter.Masquerader
	owner     string
	r         *Reconciler
}

// Plan resolves the underlay and returns the desired state of cfg there.
func (r *Reconciler) Plan(cfg *Config) (*State, Underlay, error) {
	ul, err := r.Kernel.Underlay(cfg.VTEPIP, cfg.VTEPDevice)
	if err != nil {
		return nil, Underlay{}, err
	}
	want, err := Desired(cfg, ul)
	return want, ul, err
}

// Reconcile converges the overlay: device, peers and (with ipMasq)
// masquerade. It writes nothing when everything already matches. Writes
// happen under the overlay's lock, after reading the state again. When an
// op fails, the ops before it are undone and the error names the op.
func (r *Reconciler) Reconcile(ctx context.Context, cfg *Config) (*Change, error) {
	want, ul, err := r.Plan(cfg)
	if err != nil {
		return nil, err
	}
	ch := &Change{MTU: want.Device.MTU, Underlay: ul, owner: cfg.MasqOwner(), r: r}
	ops, err := r.diff(cfg, want)
	if err != nil {
		return nil, err
	}
	if len(ops) > 0 {
		if ch.Ops, err = r.applyLocked(cfg, want); err != nil {
			return nil, err
		}
	}
	if cfg.IPMasq {
		if err := r.ensureMasq(ctx, cfg, ch); err != nil {
			return nil, errors.Join(err, ch.Undo(ctx))
		}
	}
	return ch, nil
}

// diff reads the kernel and returns the ops that converge it to want.
func (r *Reconciler) diff(cfg *Config, want *State) ([]Op, error) {
	have, err := r.Kernel.Read(cfg.Device, cfg.Network)
	if err != nil {
		return nil, fmt.Errorf("read overlay %q: %w", cfg.Device, err)
	}
	return Diff(want, have), nil
}

// applyLocked takes the lock, diffs again (another writer may have done
// the work meanwhile) and applies the ops.
func (r *Reconciler) applyLocked(cfg *Config, want *State) ([]Op, error) {
	if r.Lock != nil {
		unlock, err := r.Lock(cfg.LockPath())
		if err != nil {
			return nil, fmt.Errorf("lock overlay %q: %w", cfg.Device, err)
		}
		defer unlock()
	}
	ops, err := r.diff(cfg, want)
	if err != nil {
		return nil, err
	}
	return r.apply(ops)
}

// apply runs ops in order. On a failure it undoes the ops already applied
// and returns the failure (and any undo failures).
func (r *Reconciler) apply(ops []Op) ([]Op, error) {
	for i, op := range ops {
		level := slog.LevelInfo
		if op.Kind == LinkDel {
			level = slog.LevelWarn // recreating the device interrupts every pod's cross-node traffic
		}
		r.log().Log(context.Background(), level, "apply", "op", op.String(), "reason", op.Reason)
		if err := r.Kernel.Apply(op); err != nil {
			return nil, errors.Join(fmt.Errorf("reconcile overlay: %w", err), r.undo(ops[:i]))
		}
	}
	return ops, nil
}

// undo applies the inverses of ops in reverse order, continuing past
// failures.
func (r *Reconciler) undo(ops []Op) error {
	var errs []error
	for i := len(ops) - 1; i >= 0; i-- {
		u := ops[i].Undo
		if u == nil {
			continue
		}
		r.log().Info("undo", "op", u.String())
		if err := r.Kernel.Apply(*u); err != nil {
			errs = append(errs, fmt.Errorf("undo: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Undo reverts the change: the ops in reverse order, then the masquerade
// rules when Reconcile added them. Nil-safe.
func (c *Change) Undo(ctx context.Context) error {
	if c == nil {
		return nil
	}
	var errs []error
	if c.masqAdded != nil {
		if err := c.masqAdded.DeleteMasquerade(ctx, c.owner); err != nil {
			errs = append(errs, fmt.Errorf("undo masquerade %q: %w", c.owner, err))
		}
		c.masqAdded = nil
	}
	errs = append(errs, c.r.undo(c.Ops))
	c.Ops = nil
	return errors.Join(errs...)
}

// ensureMasq installs the masquerade rules of the network unless they are
// there already, and records that it did.
func (r *Reconciler) ensureMasq(ctx context.Context, cfg *Config, ch *Change) error {
	m, err := r.masquerader(cfg.MasqBackend)
	if err != nil {
		return err
	}
	subnets := []netip.Prefix{cfg.Network}
	if m.CheckMasquerade(ctx, cfg.MasqOwner(), subnets) == nil {
		return nil
	}
	r.log().Info("ensure masquerade", "owner", cfg.MasqOwner(), "network", cfg.Network.String())
	if err := m.EnsureMasquerade(ctx, cfg.MasqOwner(), subnets); err != nil {
		return fmt.Errorf("ensure masquerade of %s for %q: %w", cfg.Network, cfg.MasqOwner(), err)
	}
	ch.masqAdded = m
	return nil
}

func (r *Reconciler) masquerader(b netfilter.Backend) (netfilter.Masquerader, error) {
	if r.Masq == nil {
		return nil, errors.New("ipMasq: masquerade is not available in this build")
	}
	m, err := r.Masq(b)
	if err != nil {
		return nil, fmt.Errorf("ipMasq: netfilter backend %q: %w", b, err)
	}
	return m, nil
}

// Check returns an error naming every difference between the kernel and
// cfg: device settings, addresses, peers' neighbors, FDB entries and
// routes, and (with ipMasq) the masquerade rules. It writes nothing.
func (r *Reconciler) Check(ctx context.Context, cfg *Config) error {
	want, _, err := r.Plan(cfg)
	if err != nil {
		return err
	}
	ops, err := r.diff(cfg, want)
	if err != nil {
		return err
	}
	var errs []error
	if len(ops) > 0 {
		errs = append(errs, fmt.Errorf("check overlay %q: %s", cfg.Device, Reasons(ops)))
	}
	if cfg.IPMasq {
		m, err := r.masquerader(cfg.MasqBackend)
		if err == nil {
			err = m.CheckMasquerade(ctx, cfg.MasqOwner(), []netip.Prefix{cfg.Network})
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("check masquerade of %s for %q: %w", cfg.Network, cfg.MasqOwner(), err))
		}
	}
	return errors.Join(errs...)
}

// Teardown removes the overlay from the node: the device (with its
// neighbors, FDB entries and routes), the overlay's routes on the underlay,
// and the network's masquerade rules on every usable backend. What is
// already gone is not an error; it continues past failures.
func (r *Reconciler) Teardown(ctx context.Context, cfg *Config) error {
	var errs []error
	have, err := r.Kernel.Read(cfg.Device, cfg.Network)
	if err != nil {
		errs = append(errs, fmt.Errorf("read overlay %q: %w", cfg.Device, err))
	} else {
		if d := have.Device; d != nil && d.Kind != "vxlan" {
			r.log().Warn("not removing a link that is not a vxlan device", "device", d.Name, "kind", d.Kind)
			have = without(have, d.Name)
		}
		for _, op := range Diff(NewState(), have) {
			r.log().Info("teardown", "op", op.String())
			if err := r.Kernel.Apply(op); err != nil {
				errs = append(errs, fmt.Errorf("teardown overlay: %w", err))
			}
		}
	}
	if r.Masq != nil {
		errs = append(errs, r.deleteMasq(ctx, cfg))
	}
	return errors.Join(errs...)
}

// RemoveMasquerade removes the network's masquerade rules (on both
// backends unless ipMasqBackend names one), for a config whose ipMasq was
// turned off. Rules already gone are not an error. nil Masq: nothing to do.
func (r *Reconciler) RemoveMasquerade(ctx context.Context, cfg *Config) error {
	if r.Masq == nil {
		return nil
	}
	return r.deleteMasq(ctx, cfg)
}

// deleteMasq removes the owner's rules from the configured backend, or
// from both when none is configured (ipMasqBackend may have changed since
// ADD). A backend that cannot be used here has no rules to remove.
func (r *Reconciler) deleteMasq(ctx context.Context, cfg *Config) error {
	backends := []netfilter.Backend{cfg.MasqBackend}
	if cfg.MasqBackend == "" {
		backends = []netfilter.Backend{netfilter.NFTables, netfilter.IPTables}
	}
	var errs []error
	for _, b := range backends {
		m, err := r.Masq(b)
		if err == nil {
			err = m.DeleteMasquerade(ctx, cfg.MasqOwner())
		}
		if err != nil && netfilter.Usable(b) != nil {
			r.log().Info("skip masquerade teardown on unusable backend", "backend", string(b), "error", err.Error())
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delete masquerade %q (%s): %w", cfg.MasqOwner(), b, err))
		}
	}
	return errors.Join(errs...)
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}
