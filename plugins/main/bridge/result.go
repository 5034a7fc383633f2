package main

import (
	current "github.com/containernetworking/cni/pkg/types/100"
)

// linkInfo is what the result reports of a link.
type linkInfo struct {
	Name string
	MAC  string
	MTU  int
}

// buildResult assembles the ADD result: interfaces bridge (0), host veth
// (1), pod interface (2, with its sandbox), then the VLAN gateway
// interface if one was used; IPs and routes from the address plan, all
// pointing at the pod interface. a is nil in L2 mode.
func buildResult(br, host, pod linkInfo, vlanGW *linkInfo, sandbox string, a *addrPlan) *current.Result {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if a != nil {
		res = copyResult(a.Result)
		res.CNIVersion = current.ImplementedSpecVersion
	}
	res.Interfaces = []*current.Interface{
		{Name: br.Name, Mac: br.MAC, Mtu: br.MTU},
		{Name: host.Name, Mac: host.MAC, Mtu: host.MTU},
		{Name: pod.Name, Mac: pod.MAC, Mtu: pod.MTU, Sandbox: sandbox},
	}
	if vlanGW != nil {
		res.Interfaces = append(res.Interfaces, &current.Interface{Name: vlanGW.Name, Mac: vlanGW.MAC, Mtu: vlanGW.MTU})
	}
	return res
}
