package main

import (
	"errors"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// netConf is the loopback config: nothing beyond the common keys.
type netConf struct {
	types.PluginConf
	cniplugin.LogConf
}

func parseConf(stdin []byte) (*netConf, types.Result, error) {
	conf := &netConf{}
	if err := cniplugin.DecodeConf(stdin, conf); err != nil {
		return nil, nil, err
	}
	prev, err := cniplugin.ParsePrevResult(&conf.PluginConf)
	if err != nil {
		return nil, nil, err
	}
	return conf, prev, nil
}

func cmdAdd(c *cniplugin.Call) error {
	conf, prev, err := parseConf(c.StdinData)
	if err != nil {
		return err
	}
	addrs, err := setupLoopback(c.Netns)
	if err != nil {
		return err
	}
	if prev != nil {
		// Chained: lo is not the attachment's interface; pass through.
		return cniplugin.PrintResult(prev, conf.CNIVersion)
	}
	return cniplugin.PrintResult(buildResult(c.Netns, addrs), conf.CNIVersion)
}

// buildResult reports lo with its first IPv4 and first IPv6 address, as the
// reference does.
func buildResult(netns string, addrs []net.IPNet) *current.Result {
	res := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: "lo", Mac: "00:00:00:00:00:00", Sandbox: netns}},
	}
	var have4, have6 bool
	for _, a := range addrs {
		is4 := a.IP.To4() != nil
		if (is4 && have4) || (!is4 && have6) {
			continue
		}
		have4, have6 = have4 || is4, have6 || !is4
		res.IPs = append(res.IPs, &current.IPConfig{Interface: current.Int(0), Address: a})
	}
	return res
}

func cmdDel(c *cniplugin.Call) error {
	if c.Netns == "" {
		return nil
	}
	err := teardownLoopback(c.Netns)
	if errors.Is(err, cniplugin.ErrNetNSGone) {
		c.Log.Info("netns already gone; nothing to do")
		return nil
	}
	return err
}

func cmdCheck(c *cniplugin.Call) error {
	if _, _, err := parseConf(c.StdinData); err != nil {
		return err
	}
	return checkLoopback(c.Netns)
}

// cmdStatus reports ready: loopback needs nothing from the node. It still
// parses the config, so a broken one is reported.
func cmdStatus(c *cniplugin.Call) error {
	_, _, err := parseConf(c.StdinData)
	return err
}

// cmdGC has nothing to collect: loopback keeps no state outside the pod.
func cmdGC(c *cniplugin.Call) error {
	_, _, err := parseConf(c.StdinData)
	return err
}
