// Command vxlan is the podnet overlay plugin: a chained CNI plugin that
// keeps a node's VXLAN overlay (device, peers' neighbor, FDB and route
// entries, masquerade) converged with its config on every ADD, and
// `vxlan sync --conf <conflist> [--watch]`, the same reconciliation for
// operators and DaemonSets, outside CNI.
package main

import (
	"os"

	"github.com/containernetworking/cni/pkg/version"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "sync" {
		os.Exit(runSync(os.Args[2:], os.Stderr))
	}
	cniplugin.Main(cniplugin.Plugin{
		Name:     "vxlan",
		Versions: version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
		Funcs:    cniplugin.Funcs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC},
	})
}
