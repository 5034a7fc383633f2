package main

import (
	"context"
	"errors"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

func cmdAdd(c *cniplugin.Call) error { return add(c, realDeps()) }
func cmdDel(c *cniplugin.Call) error { return del(c, realDeps()) }
func cmdCheck(c *cniplugin.Call) error {
	return check(c, realDeps())
}
func cmdStatus(c *cniplugin.Call) error { return status(c, realDeps()) }
func cmdGC(c *cniplugin.Call) error     { return gc(c, realDeps()) }

func add(c *cniplugin.Call, d deps) error {
	conf, err := parseConf(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	if !conf.l3() && (conf.CNIVersion == "0.1.0" || conf.CNIVersion == "0.2.0") {
		return cniplugin.ConfigErrorf("cniVersion %s cannot carry an L2-mode result (no IP address); use 0.3.0 or later, or set ipam", conf.CNIVersion)
	}
	res, err := addAttachment(context.Background(), c, conf, d)
	if err != nil {
		return err
	}
	return cniplugin.PrintResult(res, conf.CNIVersion)
}

func del(c *cniplugin.Call, d deps) error {
	conf, err := parseConf(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	return delAttachment(context.Background(), c, conf, d)
}

func check(c *cniplugin.Call, d deps) error {
	conf, err := parseConf(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	_, res, err := cniplugin.CurrentPrevResult(&conf.PluginConf)
	if err != nil {
		return err
	}
	if res == nil {
		return cniplugin.ConfigErrorf("CHECK needs prevResult: the runtime passes the ADD result")
	}
	return checkAttachment(context.Background(), c, conf, res, d)
}

// status forwards STATUS to IPAM and reports code 50 when ipMasq is set
// and its netfilter backend cannot be used here.
func status(c *cniplugin.Call, d deps) error {
	conf, err := parseConf(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	if err := d.ipam(conf, c).Status(context.Background()); err != nil {
		return err
	}
	if !conf.IPMasq {
		return nil
	}
	b := netfilter.Choose(conf.backend)
	if err := netfilter.Usable(b); err != nil {
		return cniplugin.Errorf(cniplugin.ErrPluginNotAvailable, "ipMasq: netfilter backend %s is not usable: %w", b, err)
	}
	return nil
}

// gc forwards GC to IPAM, removes the spoof check elements of attachments
// not in the valid list and, when no attachment of the network is valid
// any more, removes its masquerade rules. With ipMasq it also removes the
// per-attachment masquerade rules the reference plugin left for
// attachments not in the list (a node upgraded in place). It carries on
// past errors and reports them all.
func gc(c *cniplugin.Call, d deps) error {
	conf, err := parseConf(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	ctx := context.Background()
	errs := []error{d.ipam(conf, c).GC(ctx)}
	valid, err := validAttachments(c.StdinData)
	if err != nil {
		return err
	}
	if conf.MacSpoofChk {
		keys := map[string]bool{}
		for _, a := range valid {
			keys[netfilter.SpoofKey(conf.Name, a.ContainerID, a.IfName)] = true
		}
		errs = append(errs, d.spoof().GCSpoofCheck(ctx, conf.Name, keys))
	}
	if conf.IPMasq && conf.l3() {
		errs = append(errs, d.refMasq(ctx, conf.Name, valid))
	}
	if conf.IPMasq && conf.l3() && len(valid) == 0 {
		m, err := d.masq(conf.backend)
		if err == nil {
			err = m.DeleteMasquerade(ctx, conf.Name)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validAttachments reads the GC list under both keys: the spec's
// cni.dev/valid-attachments and the cni.dev/attachments of the spec-v1.1.0
// tag, which libcni also sends.
func validAttachments(stdin []byte) ([]types.GCAttachment, error) {
	var v struct {
		Valid []types.GCAttachment `json:"cni.dev/valid-attachments"`
		Old   []types.GCAttachment `json:"cni.dev/attachments"`
	}
	if err := cniplugin.DecodeConf(stdin, &v); err != nil {
		return nil, err
	}
	return append(v.Valid, v.Old...), nil
}
