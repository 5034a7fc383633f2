package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
	"github.com/podnet/podnet/pkg/overlay"
)

// newReconciler builds the reconciler of the current network namespace.
func newReconciler(log *slog.Logger) *overlay.Reconciler {
	return &overlay.Reconciler{Kernel: overlay.NewNetlinkKernel(), Masq: newMasquerader, Lock: overlay.LockFile, Log: log}
}

// newMasquerader returns the masquerader of a backend, choosing one when
// it is empty.
func newMasquerader(b netfilter.Backend) (netfilter.Masquerader, error) {
	return netfilter.NewMasquerader(netfilter.Choose(b))
}

// chainedConfig parses the config and its prevResult (required) into the
// overlay config, with the subnet derived from the pod's address.
func chainedConfig(stdin []byte) (*NetConf, *current.Result, *overlay.Config, error) {
	conf, err := parseConf(stdin)
	if err != nil {
		return nil, nil, nil, err
	}
	_, res, err := cniplugin.CurrentPrevResult(&conf.PluginConf)
	if err != nil {
		return nil, nil, nil, err
	}
	if res == nil {
		return nil, nil, nil, cniplugin.ConfigErrorf("prevResult is missing: vxlan is a chained plugin; list it after the plugin that creates the pod interface (bridge)")
	}
	subnet, err := subnetFromResult(res, conf.Network)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg, err := conf.overlayConfig(subnet, withPeers)
	return conf, res, cfg, err
}

// cmdAdd converges the overlay, lowers the pod's MTU to the overlay's, and
// passes prevResult through with the MTU reported.
func cmdAdd(c *cniplugin.Call) error {
	conf, res, cfg, err := chainedConfig(c.StdinData)
	if err != nil {
		return err
	}
	// A missing or bogus CNI_NETNS is refused before the node's overlay is
	// touched, rather than converged, then undone.
	if err := cniplugin.WithNetNS(c.Netns, func(ns.NetNS) error { return nil }); err != nil {
		return err
	}
	ctx := context.Background()
	ch, err := newReconciler(c.Log).Reconcile(ctx, cfg)
	if err != nil {
		return err
	}
	if err := setPodMTU(c, res, ch.MTU); err != nil {
		return errors.Join(err, ch.Undo(ctx))
	}
	return cniplugin.PrintResult(res, conf.CNIVersion)
}

// cmdDel leaves the overlay in place: other pods use it. GC removes it
// when no attachment is left.
func cmdDel(c *cniplugin.Call) error {
	if _, err := parseConf(c.StdinData); err != nil {
		return err
	}
	c.Log.Debug("overlay left in place; GC removes it with the last attachment")
	return nil
}

// cmdCheck compares the device, peers, masquerade rules and the pod's MTU
// with the config.
func cmdCheck(c *cniplugin.Call) error {
	_, _, cfg, err := chainedConfig(c.StdinData)
	if err != nil {
		return err
	}
	r := newReconciler(c.Log)
	if err := r.Check(context.Background(), cfg); err != nil {
		return err
	}
	want, _, err := r.Plan(cfg)
	if err != nil {
		return err
	}
	return checkPodMTU(c, want.Device.MTU)
}

// cmdStatus reports whether ADD can work: the config is valid, the peers
// file readable, the vtepIP resolvable. Any failure is code 50.
func cmdStatus(c *cniplugin.Call) error {
	conf, err := parseConf(c.StdinData)
	if err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	cfg, err := conf.overlayConfig(netip.Prefix{}, withPeers)
	if err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	if _, err := overlay.NewNetlinkKernel().Underlay(cfg.VTEPIP, cfg.VTEPDevice); err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	return nil
}

// cmdGC removes the overlay (device, peer entries, routes, masquerade
// rules) when the runtime reports no valid attachment of the network on
// this node; otherwise it has nothing to collect.
func cmdGC(c *cniplugin.Call) error {
	conf, err := parseConf(c.StdinData)
	if err != nil {
		return err
	}
	if n := len(conf.ValidAttachments) + len(conf.OldAttachments); n > 0 {
		c.Log.Debug("attachments remain; overlay kept", "attachments", n)
		return nil
	}
	cfg, err := conf.overlayConfig(netip.Prefix{}, withoutPeers)
	if err != nil {
		return err
	}
	c.Log.Info("no attachment left; removing the overlay", "device", cfg.Device)
	return newReconciler(c.Log).Teardown(context.Background(), cfg)
}
