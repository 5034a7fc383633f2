// Command loopback is the podnet CNI plugin that brings up lo in a pod.
package main

import "github.com/podnet/podnet/pkg/cniplugin"

func main() {
	cniplugin.Main(cniplugin.Plugin{
		Name:  "loopback",
		Funcs: cniplugin.Funcs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, Status: cmdStatus, GC: cmdGC},
	})
}
