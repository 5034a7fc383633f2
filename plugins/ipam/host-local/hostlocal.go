package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/hostlocal"
)

// attachment validates the runtime's container ID and ifname before they
// reach the store.
func attachment(c *cniplugin.Call) (hostlocal.Attachment, error) {
	if err := hostlocal.ValidateContainerID(c.ContainerID); err != nil {
		return hostlocal.Attachment{}, cniplugin.WithCode(cniplugin.ErrInvalidEnvironment, fmt.Errorf("CNI_CONTAINERID: %w", err))
	}
	if err := hostlocal.ValidateIfName(c.IfName); err != nil {
		return hostlocal.Attachment{}, cniplugin.WithCode(cniplugin.ErrInvalidEnvironment, fmt.Errorf("CNI_IFNAME: %w", err))
	}
	return hostlocal.Attachment{ContainerID: c.ContainerID, IfName: c.IfName}, nil
}

// openPool opens the network's store under the config's dataDir.
func openPool(c *cniplugin.Call, conf *hostlocal.Config) (*hostlocal.Pool, func(), error) {
	st, err := hostlocal.OpenDisk(conf.DataDir, conf.Name, c.Log)
	if err != nil {
		return nil, nil, cniplugin.WithCode(cniplugin.ErrIOFailure, fmt.Errorf("open store %s/%s: %w", conf.DataDir, conf.Name, err))
	}
	closeFn := func() {
		if err := st.Close(); err != nil {
			c.Log.Warn("close store", "error", err)
		}
	}
	return &hostlocal.Pool{Store: st, Log: c.Log}, closeFn, nil
}

func cmdAdd(c *cniplugin.Call) error {
	a, err := attachment(c)
	if err != nil {
		return err
	}
	conf, err := hostlocal.ParseConfig(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, Routes: conf.Routes}
	if conf.ResolvConf != "" {
		dns, err := hostlocal.ParseResolvConf(conf.ResolvConf)
		if err != nil {
			return cniplugin.WithCode(cniplugin.ErrInvalidNetworkConfig, err)
		}
		res.DNS = *dns
	}
	pool, closeFn, err := openPool(c, conf)
	if err != nil {
		return err
	}
	defer closeFn()
	if res.IPs, err = pool.Allocate(a, conf); err != nil {
		return err
	}
	c.Log.Info("allocated", "ips", ipsString(res.IPs))
	if err := types.PrintResult(res, conf.CNIVersion); err != nil {
		if _, rerr := pool.Release(a); rerr != nil {
			c.Log.Error("release after failed result print", "error", rerr)
		}
		return fmt.Errorf("print result: %w", err)
	}
	return nil
}

func cmdDel(c *cniplugin.Call) error {
	a, err := attachment(c)
	if err != nil {
		return err
	}
	conf, err := hostlocal.ParseStoreConfig(c.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := openPool(c, conf)
	if err != nil {
		return err
	}
	defer closeFn()
	released, err := pool.Release(a)
	if err != nil {
		return fmt.Errorf("release %s in network %q: %w", a.ContainerID+"/"+a.IfName, conf.Name, err)
	}
	c.Log.Info("released", "ips", released)
	return nil
}

func cmdCheck(c *cniplugin.Call) error {
	a, err := attachment(c)
	if err != nil {
		return err
	}
	conf, err := hostlocal.ParseConfig(c.StdinData, c.Args)
	if err != nil {
		return err
	}
	prev, err := prevIPs(c.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := openPool(c, conf)
	if err != nil {
		return err
	}
	defer closeFn()
	return pool.Check(a, conf, prev)
}

// prevIPs returns the addresses of prevResult, or nil when there is none.
func prevIPs(stdin []byte) ([]net.IP, error) {
	var pc types.PluginConf
	if err := cniplugin.DecodeConf(stdin, &pc); err != nil {
		return nil, err
	}
	prev, err := cniplugin.ParsePrevResult(&pc)
	if err != nil || prev == nil {
		return nil, err
	}
	r, err := current.NewResultFromResult(prev)
	if err != nil {
		return nil, cniplugin.Errorf(cniplugin.ErrDecodingFailure, "convert prevResult: %w", err)
	}
	ips := []net.IP{}
	for _, ipc := range r.IPs {
		ips = append(ips, ipc.Address.IP)
	}
	return ips, nil
}

func cmdStatus(c *cniplugin.Call) error {
	conf, err := hostlocal.ParseConfig(c.StdinData, "")
	if err != nil {
		return err
	}
	pool, closeFn, err := openPool(c, conf)
	if err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	defer closeFn()
	return pool.Status(conf, conf.DataDir+"/"+conf.Name)
}

func cmdGC(c *cniplugin.Call) error {
	conf, err := hostlocal.ParseStoreConfig(c.StdinData)
	if err != nil {
		return err
	}
	valid, err := parseValidAttachments(c.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := openPool(c, conf)
	if err != nil {
		return err
	}
	defer closeFn()
	removed, err := pool.GC(valid)
	for _, r := range removed {
		c.Log.Info("garbage-collected", "ip", r.IP.String(), "containerID", r.ContainerID, "ifname", r.IfName)
	}
	return err
}

func ipsString(ips []*current.IPConfig) string {
	s := make([]string, len(ips))
	for i, x := range ips {
		s[i] = x.Address.String()
	}
	return strings.Join(s, ",")
}

var errNoAttachments = errors.New("GC config has neither cni.dev/valid-attachments nor cni.dev/attachments; refusing to release every reservation")
