package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// bothBackends is the order DEL and GC visit the backends in: a node that
// switched backend must not keep the other one's entries. nftables comes
// last: after it deletes elements, closing any netfilter netlink socket
// waits for the kernel to free them (an RCU grace period), so DEL does the
// rest first and leaves that wait to process exit, overlapped with the
// conntrack cleanup.
var bothBackends = []netfilter.Backend{netfilter.IPTables, netfilter.NFTables}

// parseChained decodes and validates the config and its prevResult, which
// ADD and CHECK require.
func parseChained(c *cniplugin.Call) (*netConf, *options, types.Result, *current.Result, error) {
	conf, err := decodeConf(c.StdinData)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	opts, err := parseOptions(conf)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	prev, res, err := cniplugin.CurrentPrevResult(&conf.PluginConf)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if prev == nil {
		return nil, nil, nil, nil, cniplugin.ConfigErrorf("portmap must be chained after the plugin that sets up the interface: the config has no prevResult")
	}
	return conf, opts, prev, res, nil
}

// buildSpec turns the options and the pod's addresses into what the
// netfilter layer applies.
func buildSpec(c *cniplugin.Call, conf *netConf, opts *options, res *current.Result) netfilter.HostPortSpec {
	v4, v6 := podIPs(res, c.IfName)
	spec := netfilter.HostPortSpec{
		Owner:    netfilter.HostPortOwner{Network: conf.Name, ContainerID: c.ContainerID, IfName: c.IfName},
		Mappings: planHostPorts(opts.mappings, v4, v6),
		SNAT:     opts.snat, MasqAll: opts.masqAll, MarkMasqBit: opts.markMasqBit,
		ExternalSetMarkChain: opts.externalSetMarkChain,
		ConditionsV4:         opts.conditionsV4, ConditionsV6: opts.conditionsV6,
	}
	return spec
}

// chooseBackend resolves an automatic backend: nftables when podnet's
// table is already there (no probe needed), else the node's default.
func chooseBackend(b netfilter.Backend) netfilter.Backend {
	if b != "" {
		return b
	}
	if netfilter.HostPortTableExists() {
		return netfilter.NFTables
	}
	return netfilter.Choose("")
}

func cmdAdd(c *cniplugin.Call) error {
	conf, opts, prev, res, err := parseChained(c)
	if err != nil {
		return err
	}
	spec := buildSpec(c, conf, opts, res)
	if len(spec.Mappings) == 0 {
		if len(opts.mappings) > 0 {
			c.Log.Warn("prevResult has no address on this interface; no host port forwarded", "mappings", len(opts.mappings))
		}
		return cniplugin.PrintResult(prev, conf.CNIVersion)
	}
	if err := setLocalnetIface(&spec); err != nil {
		c.Log.Warn("localhost:hostPort will not be forwarded", "error", err)
	}
	backend := chooseBackend(opts.backend)
	if err := addHostPorts(c, backend, spec); err != nil {
		return err
	}
	if err := flushUDPConntrack(spec.Mappings); err != nil {
		c.Log.Warn("stale UDP conntrack entries may remain", "error", err)
	}
	return cniplugin.PrintResult(prev, conf.CNIVersion)
}

// setLocalnetIface names the interface towards the pod's IPv4 address when
// localhost must be forwarded (snat on, an IPv4 mapping).
func setLocalnetIface(spec *netfilter.HostPortSpec) error {
	if !spec.SNAT {
		return nil
	}
	for _, m := range spec.Mappings {
		if !m.IsIPv6() {
			iface, err := routeIface(m.PodIP)
			spec.LocalnetIface = iface
			return err
		}
	}
	return nil
}

// addHostPorts applies spec and undoes whatever part of it landed when it
// fails.
func addHostPorts(c *cniplugin.Call, backend netfilter.Backend, spec netfilter.HostPortSpec) error {
	ctx := context.Background()
	hp, err := netfilter.NewHostPorts(backend, c.Log)
	if err != nil {
		return err
	}
	if err := hp.EnsureHostPorts(ctx, spec); err != nil {
		if _, undoErr := hp.DeleteHostPorts(ctx, spec.Owner, nil); undoErr != nil {
			c.Log.Error("undo of a failed ADD left host ports behind; GC removes them", "error", undoErr)
		}
		return fmt.Errorf("forward host ports of %s with %s: %w", spec.Owner.Tag(), backend, err)
	}
	return nil
}

func cmdDel(c *cniplugin.Call) error {
	conf, err := decodeConf(c.StdinData)
	if err != nil {
		return err
	}
	if len(conf.RuntimeConfig.PortMaps) == 0 {
		return nil // no mappings, no netfilter work; GC covers a runtime that drops them on DEL
	}
	owner := netfilter.HostPortOwner{Network: conf.Name, ContainerID: c.ContainerID, IfName: c.IfName}
	keys := hostPortKeys(conf.RuntimeConfig.PortMaps)
	removed, err := everyBackend(c.Log, func(hp netfilter.HostPorts) ([]netfilter.HostPort, error) {
		return hp.DeleteHostPorts(context.Background(), owner, keys)
	})
	if ferr := flushUDPConntrack(removed); ferr != nil {
		c.Log.Warn("stale UDP conntrack entries may remain", "error", ferr)
	}
	if err != nil {
		return fmt.Errorf("remove host ports of %s: %w", owner.Tag(), err)
	}
	return nil
}

// everyBackend runs fn on both backends and joins what they return.
func everyBackend(log *slog.Logger, fn func(netfilter.HostPorts) ([]netfilter.HostPort, error)) ([]netfilter.HostPort, error) {
	var all []netfilter.HostPort
	var errs []error
	for _, b := range bothBackends {
		hp, err := netfilter.NewHostPorts(b, log)
		if err == nil {
			var removed []netfilter.HostPort
			removed, err = fn(hp)
			all = append(all, removed...)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b, err))
		}
	}
	return all, errors.Join(errs...)
}

func cmdCheck(c *cniplugin.Call) error {
	conf, opts, _, res, err := parseChained(c)
	if err != nil {
		return err
	}
	spec := buildSpec(c, conf, opts, res)
	if len(spec.Mappings) == 0 {
		return nil
	}
	backends := []netfilter.Backend{chooseBackend(opts.backend)}
	if opts.backend == "" {
		// An automatic choice may have changed since this pod's ADD.
		backends = bothBackends
	}
	var errs []error
	for _, b := range backends {
		hp, err := netfilter.NewHostPorts(b, c.Log)
		if err == nil {
			if err = hp.CheckHostPorts(context.Background(), spec); err == nil {
				return nil
			}
		}
		errs = append(errs, fmt.Errorf("%s: %w", b, err))
	}
	return errors.Join(errs...)
}

func cmdStatus(c *cniplugin.Call) error {
	conf, err := decodeConf(c.StdinData)
	if err != nil {
		return err
	}
	opts, err := parseOptions(conf)
	if err != nil {
		return err
	}
	if opts.backend != "" {
		if err := netfilter.Usable(opts.backend); err != nil {
			return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "configured backend %s is not usable: %w", opts.backend, err)
		}
		return nil
	}
	errNFT := netfilter.Usable(netfilter.NFTables)
	if errNFT == nil {
		return nil
	}
	if errIPT := netfilter.Usable(netfilter.IPTables); errIPT != nil {
		return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "neither netfilter backend is usable: %w", errors.Join(errNFT, errIPT))
	}
	return nil
}

func cmdGC(c *cniplugin.Call) error {
	conf, err := decodeConf(c.StdinData)
	if err != nil {
		return err
	}
	if _, err := parseOptions(conf); err != nil {
		return err
	}
	var valid []netfilter.HostPortOwner
	for _, a := range append(conf.ValidAttachments, conf.LegacyAttachments...) {
		valid = append(valid, netfilter.HostPortOwner{Network: conf.Name, ContainerID: a.ContainerID, IfName: a.IfName})
	}
	removed, err := everyBackend(c.Log, func(hp netfilter.HostPorts) ([]netfilter.HostPort, error) {
		return hp.GCHostPorts(context.Background(), conf.Name, valid)
	})
	if len(removed) > 0 {
		c.Log.Info("removed host ports of attachments that are gone", "count", len(removed))
	}
	if ferr := flushUDPConntrack(removed); ferr != nil {
		c.Log.Warn("stale UDP conntrack entries may remain", "error", ferr)
	}
	if err != nil {
		return fmt.Errorf("garbage-collect host ports of network %q: %w", conf.Name, err)
	}
	return nil
}
