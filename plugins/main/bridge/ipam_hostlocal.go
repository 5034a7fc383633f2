package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/hostlocal"
)

// hostLocalType is the ipam.type served in-process.
const hostLocalType = "host-local"

// hostLocalIPAM runs podnet's host-local verbs in this process: the same
// code as the host-local binary, on the same store with the same flock,
// so reservations it makes are the binary's to release and the other way
// round. It saves the exec of a second plugin process on every verb.
type hostLocalIPAM struct {
	req hostlocal.Request
	// cniVersion is the config's; see Add.
	cniVersion string
}

func newHostLocalIPAM(cniVersion string, c *cniplugin.Call) *hostLocalIPAM {
	return &hostLocalIPAM{req: hostlocal.RequestFrom(c.CmdArgs, c.Log.With("ipam", hostLocalType)), cniVersion: cniVersion}
}

// Validate refuses a bad IPAM config or attachment before the bridge
// changes anything (see addAttachment).
// The parsed config is kept for Add.
func (h *hostLocalIPAM) Validate() error {
	conf, err := hostlocal.Validate(h.req)
	if err != nil {
		return wrapIPAM(hostLocalType, "ADD", err)
	}
	h.req.Config = conf
	return nil
}

// Add is part of ipamClient. The bridge sees exactly what the exec path
// gives it: see roundTrip. On a failure after the allocation it releases
// it.
func (h *hostLocalIPAM) Add(context.Context) (*current.Result, error) {
	res, cniVersion, err := hostlocal.Add(h.req)
	if err != nil {
		return nil, wrapIPAM(hostLocalType, "ADD", err)
	}
	out, err := roundTrip(res, cniVersion)
	if err != nil {
		if derr := hostlocal.Del(h.req); derr != nil {
			h.req.Log.Error("release after failed result conversion", "error", derr)
		}
		return nil, fmt.Errorf("ipam %q ADD: %w", hostLocalType, err)
	}
	return out, nil
}

// roundTrip makes res take the trip an exec'd plugin's result takes:
// printed in the config's cniVersion, parsed back, converted to the
// current version. Before 1.0.0 that drops what the older formats cannot
// carry; from 1.0.0 on the result type is the current one and the trip
// changes nothing, so it is skipped.
func roundTrip(res *current.Result, cniVersion string) (*current.Result, error) {
	if len(res.IPs) == 0 {
		return nil, fmt.Errorf("result has no IP addresses")
	}
	if modern, _ := version.GreaterThanOrEqualTo(cniVersion, "1.0.0"); modern {
		return res, nil
	}
	r, err := res.GetAsVersion(cniVersion)
	if err != nil {
		return nil, fmt.Errorf("convert result to %s: %w", cniVersion, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	var back types.Result
	if back, err = version.NewResult(cniVersion, b); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	out, err := current.NewResultFromResult(back)
	if err != nil {
		return nil, fmt.Errorf("convert result: %w", err)
	}
	if len(out.IPs) == 0 {
		return nil, fmt.Errorf("result has no IP addresses")
	}
	return out, nil
}

// Del is part of ipamClient.
func (h *hostLocalIPAM) Del(context.Context) error {
	return wrapIPAM(hostLocalType, "DEL", hostlocal.Del(h.req))
}

// Check is part of ipamClient.
func (h *hostLocalIPAM) Check(context.Context) error {
	return wrapIPAM(hostLocalType, "CHECK", hostlocal.Check(h.req))
}

// Status is part of ipamClient.
func (h *hostLocalIPAM) Status(context.Context) error {
	return wrapIPAM(hostLocalType, "STATUS", hostlocal.Status(h.req))
}

// GC is part of ipamClient.
func (h *hostLocalIPAM) GC(context.Context) error {
	return wrapIPAM(hostLocalType, "GC", hostlocal.GC(h.req))
}
