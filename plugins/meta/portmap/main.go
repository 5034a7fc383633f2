// Command portmap is the podnet CNI plugin that forwards host ports to a
// pod (Kubernetes hostPort): a chained plugin, after the one that gives
// the pod its addresses.
package main

import "github.com/podnet/podnet/pkg/cniplugin"

func main() {
	cniplugin.Main(cniplugin.Plugin{
		Name:  "portmap",
		Funcs: cniplugin.Funcs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC},
	})
}
