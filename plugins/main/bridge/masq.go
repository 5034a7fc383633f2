package main

import (
	"context"
	"net"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// spoofChecker is what macspoofchk needs of netfilter.SpoofChecker.
type spoofChecker interface {
	EnsureSpoofCheck(ctx context.Context, key, port string, mac net.HardwareAddr) error
	CheckSpoofCheck(ctx context.Context, key, port string, mac net.HardwareAddr) error
	DeleteSpoofCheck(ctx context.Context, key string) error
	GCSpoofCheck(ctx context.Context, network string, valid map[string]bool) error
}

// deps are the plugin's outside dependencies: the IPAM plugin, the
// masquerade backend, the MAC spoof checker and the GC of what the
// reference plugin's masquerade left. Verbs take them as a parameter so
// tests can pass fakes; realDeps is what the binary uses.
type deps struct {
	ipam    func(conf *netConf, c *cniplugin.Call) ipamClient
	masq    func(b netfilter.Backend) (netfilter.Masquerader, error)
	spoof   func() spoofChecker
	refMasq func(ctx context.Context, network string, valid []types.GCAttachment) error
}

func realDeps() deps {
	return deps{
		ipam: newIPAM,
		masq: func(b netfilter.Backend) (netfilter.Masquerader, error) {
			return netfilter.NewMasquerader(netfilter.ChooseMasquerade(b))
		},
		spoof:   func() spoofChecker { return netfilter.NewSpoofChecker() },
		refMasq: netfilter.GCReferenceMasquerade,
	}
}
