package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

func call(stdin string) *cniplugin.Call {
	return &cniplugin.Call{CmdArgs: &cniplugin.CmdArgs{StdinData: []byte(stdin)}, Log: discardLog()}
}

func TestGCMasqueradeOnlyWithoutValidAttachments(t *testing.T) {
	conf := `{"cniVersion":"1.1.0","name":"net","type":"bridge","ipMasq":true,"macspoofchk":true,
		"ipam":{"type":"host-local"}%s}`
	for _, tc := range []struct {
		valid   string
		keepMsq bool
	}{
		{`,"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]`, true},
		{`,"cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]`, true},
		{``, false},
		{`,"cni.dev/valid-attachments":[]`, false},
	} {
		ipam, m, s := &fakeIPAM{}, netfilter.NewFakeMasquerader(), &fakeSpoof{}
		if err := m.EnsureMasquerade(context.Background(), "net", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")}); err != nil {
			t.Fatal(err)
		}
		d := fakeDeps(ipam, m, s)
		var refCalls []string
		d.refMasq = func(_ context.Context, network string, valid []types.GCAttachment) error {
			refCalls = append(refCalls, fmt.Sprintf("%s %v", network, valid))
			return nil
		}
		if err := gc(call(strings.Replace(conf, "%s", tc.valid, 1)), d); err != nil {
			t.Fatal(err)
		}
		wantRef := "net []"
		if tc.keepMsq {
			wantRef = "net [{c1 eth0}]"
		}
		if got := strings.Join(refCalls, ";"); got != wantRef {
			t.Errorf("%s: GC of the reference's masquerade: %q, want %q", tc.valid, got, wantRef)
		}
		if got := strings.Join(ipam.calls, ","); got != "GC" {
			t.Errorf("%s: IPAM calls %q, want GC forwarded", tc.valid, got)
		}
		if kept := m.Dump() != ""; kept != tc.keepMsq {
			t.Errorf("%s: masquerade kept = %v, want %v", tc.valid, kept, tc.keepMsq)
		}
		if s.gcNetwork != "net" || len(s.gcValid) != map[bool]int{true: 1, false: 0}[tc.keepMsq] {
			t.Errorf("%s: spoof GC(%q, %v)", tc.valid, s.gcNetwork, s.gcValid)
		}
		if tc.keepMsq && !s.gcValid[netfilter.SpoofKey("net", "c1", "eth0")] {
			t.Errorf("%s: spoof GC valid keys %v lack c1/eth0", tc.valid, s.gcValid)
		}
	}
}

func TestStatusForwardsToIPAM(t *testing.T) {
	ipam := &fakeIPAM{}
	if err := status(call(`{"cniVersion":"1.1.0","name":"net","type":"bridge","ipam":{"type":"host-local"}}`), fakeDeps(ipam, nil, nil)); err != nil {
		t.Fatal(err)
	}
	if len(ipam.calls) != 1 || ipam.calls[0] != "STATUS" {
		t.Fatalf("IPAM calls %v, want STATUS", ipam.calls)
	}
}

func TestAddRefusesL2WithOldVersion(t *testing.T) {
	err := add(call(`{"cniVersion":"0.2.0","name":"net","type":"bridge"}`), fakeDeps(&fakeIPAM{}, nil, nil))
	if cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig || !strings.Contains(err.Error(), "0.3.0") {
		t.Fatalf("L2 ADD with 0.2.0 = %v (code %d), want code 7", err, cniplugin.Code(err))
	}
}
