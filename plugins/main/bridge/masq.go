package main

import (
	"github.com/podnet/podnet/pkg/netfilter"
)

// deps are the plugin's outside dependencies: the IPAM plugin and the
// masquerade backend. Verbs take them as a parameter so tests can pass
// fakes; realDeps is what the binary uses.
type deps struct {
	ipam func(conf *netConf, stdin []byte) ipamClient
	masq func(b netfilter.Backend) (netfilter.Masquerader, error)
}

func realDeps() deps {
	return deps{
		ipam: func(conf *netConf, stdin []byte) ipamClient {
			if !conf.l3() {
				return noIPAM{}
			}
			return newExecIPAM(conf.IPAM.Type, stdin)
		},
		masq: func(b netfilter.Backend) (netfilter.Masquerader, error) {
			return netfilter.NewMasquerader(netfilter.ChooseMasquerade(b))
		},
	}
}
