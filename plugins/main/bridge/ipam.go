package main

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// ipamClient runs the IPAM plugin's verbs. For ipam.type "host-local"
// (unless ipamExec is set) it is podnet's host-local run in this process
// (hostLocalIPAM); for any other type it execs the plugin found on
// CNI_PATH with the same environment and the full network config, as the
// spec requires (execIPAM). Tests use fakeIPAM.
type ipamClient interface {
	// Add allocates and returns the result converted to the current version.
	Add(ctx context.Context) (*current.Result, error)
	// Del releases; releasing nothing is not an error.
	Del(ctx context.Context) error
	// Check verifies the allocation.
	Check(ctx context.Context) error
	// Status reports whether the plugin can serve ADD.
	Status(ctx context.Context) error
	// GC removes allocations of attachments missing from the config's
	// cni.dev/valid-attachments.
	GC(ctx context.Context) error
}

// newIPAM picks the client for the config: none in L2 mode, host-local
// in-process, or exec.
func newIPAM(conf *netConf, c *cniplugin.Call) ipamClient {
	switch {
	case !conf.l3():
		return noIPAM{}
	case conf.IPAM.Type == hostLocalType && !conf.IPAMExec:
		return newHostLocalIPAM(conf.CNIVersion, c)
	}
	return newExecIPAM(conf.IPAM.Type, c.StdinData)
}

// execIPAM delegates to the plugin named by ipam.type.
type execIPAM struct {
	plugin string
	stdin  []byte
}

func newExecIPAM(plugin string, stdin []byte) *execIPAM {
	return &execIPAM{plugin: plugin, stdin: stdin}
}

// Add is part of ipamClient.
func (e *execIPAM) Add(ctx context.Context) (*current.Result, error) {
	r, err := invoke.DelegateAdd(ctx, e.plugin, e.stdin, nil)
	if err != nil {
		return nil, fmt.Errorf("ipam %q ADD: %w", e.plugin, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("ipam %q ADD: convert result: %w", e.plugin, err)
	}
	if len(res.IPs) == 0 {
		return nil, fmt.Errorf("ipam %q ADD: result has no IP addresses", e.plugin)
	}
	return res, nil
}

// Del is part of ipamClient.
func (e *execIPAM) Del(ctx context.Context) error {
	return wrapIPAM(e.plugin, "DEL", invoke.DelegateDel(ctx, e.plugin, e.stdin, nil))
}

// Check is part of ipamClient.
func (e *execIPAM) Check(ctx context.Context) error {
	return wrapIPAM(e.plugin, "CHECK", invoke.DelegateCheck(ctx, e.plugin, e.stdin, nil))
}

// Status is part of ipamClient.
func (e *execIPAM) Status(ctx context.Context) error {
	return wrapIPAM(e.plugin, "STATUS", invoke.DelegateStatus(ctx, e.plugin, e.stdin, nil))
}

// GC is part of ipamClient.
func (e *execIPAM) GC(ctx context.Context) error {
	return wrapIPAM(e.plugin, "GC", invoke.DelegateGC(ctx, e.plugin, e.stdin, nil))
}

func wrapIPAM(plugin, verb string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ipam %q %s: %w", plugin, verb, err)
}

// noIPAM is the client of L2 mode: nothing to allocate or release.
type noIPAM struct{}

func (noIPAM) Add(context.Context) (*current.Result, error) { return &current.Result{}, nil }
func (noIPAM) Del(context.Context) error                    { return nil }
func (noIPAM) Check(context.Context) error                  { return nil }
func (noIPAM) Status(context.Context) error                 { return nil }
func (noIPAM) GC(context.Context) error                     { return nil }
