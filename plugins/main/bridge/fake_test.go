package main

import (
	"context"
	"log/slog"
	"net"
	"sync"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// fakeIPAM records the verbs it receives.
type fakeIPAM struct {
	mu    sync.Mutex
	calls []string
	res   *current.Result
	err   error
}

func (f *fakeIPAM) record(v string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, v)
	return f.err
}

func (f *fakeIPAM) Add(context.Context) (*current.Result, error) { return f.res, f.record("ADD") }
func (f *fakeIPAM) Del(context.Context) error                    { return f.record("DEL") }
func (f *fakeIPAM) Check(context.Context) error                  { return f.record("CHECK") }
func (f *fakeIPAM) Status(context.Context) error                 { return f.record("STATUS") }
func (f *fakeIPAM) GC(context.Context) error                     { return f.record("GC") }

// fakeSpoof records GC calls.
type fakeSpoof struct {
	gcNetwork string
	gcValid   map[string]bool
}

func (f *fakeSpoof) EnsureSpoofCheck(context.Context, string, string, net.HardwareAddr) error {
	return nil
}
func (f *fakeSpoof) CheckSpoofCheck(context.Context, string, string, net.HardwareAddr) error {
	return nil
}
func (f *fakeSpoof) DeleteSpoofCheck(context.Context, string) error { return nil }
func (f *fakeSpoof) GCSpoofCheck(_ context.Context, network string, valid map[string]bool) error {
	f.gcNetwork, f.gcValid = network, valid
	return nil
}

func fakeDeps(ipam *fakeIPAM, m *netfilter.FakeMasquerader, s *fakeSpoof) deps {
	return deps{
		ipam:  func(*netConf, *cniplugin.Call) ipamClient { return ipam },
		masq:  func(netfilter.Backend) (netfilter.Masquerader, error) { return m, nil },
		spoof: func() spoofChecker { return s },
		refMasq: func(context.Context, string, []types.GCAttachment) error {
			panic("GC of the reference's masquerade called without a fake")
		},
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
