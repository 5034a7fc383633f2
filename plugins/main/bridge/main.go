// Command bridge is the podnet CNI plugin that connects pods to a Linux
// bridge on the node through veth pairs: a drop-in for the reference
// bridge plugin. See README.md.
package main

import (
	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/linkdel"
)

func main() {
	linkdel.ServeHelper() // DEL leaves the kernel's veth teardown to a detached copy
	cniplugin.Main(cniplugin.Plugin{
		Name:  "bridge",
		Funcs: cniplugin.Funcs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC},
	})
}
