package main

import (
	"fmt"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/hostlocal"
)

// The verbs live in pkg/hostlocal, shared with the bridge plugin, which
// runs them in its own process; this binary only prints ADD's result.

func cmdAdd(c *cniplugin.Call) error {
	req := hostlocal.RequestFrom(c.CmdArgs, c.Log)
	res, cniVersion, err := hostlocal.Add(req)
	if err != nil {
		return err
	}
	if err := cniplugin.PrintResult(res, cniVersion); err != nil {
		if derr := hostlocal.Del(req); derr != nil {
			c.Log.Error("release after failed result print", "error", derr)
		}
		return fmt.Errorf("print result: %w", err)
	}
	return nil
}

func cmdDel(c *cniplugin.Call) error { return hostlocal.Del(hostlocal.RequestFrom(c.CmdArgs, c.Log)) }

func cmdCheck(c *cniplugin.Call) error {
	return hostlocal.Check(hostlocal.RequestFrom(c.CmdArgs, c.Log))
}

func cmdStatus(c *cniplugin.Call) error {
	return hostlocal.Status(hostlocal.RequestFrom(c.CmdArgs, c.Log))
}

func cmdGC(c *cniplugin.Call) error { return hostlocal.GC(hostlocal.RequestFrom(c.CmdArgs, c.Log)) }
