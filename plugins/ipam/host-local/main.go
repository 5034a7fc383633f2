// Command host-local is the podnet host-local IPAM plugin: a drop-in for
// the reference plugin (same options, same on-disk store) that adds GC,
// STATUS, an exact CHECK and O(1) release.
package main

import "github.com/podnet/podnet/pkg/cniplugin"

func main() {
	cniplugin.Main(cniplugin.Plugin{
		Name: "host-local",
		Funcs: cniplugin.Funcs{
			Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC,
		},
	})
}
