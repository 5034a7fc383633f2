package main

import (
	"testing"

	"github.com/podnet/podnet/pkg/hostlocal"
	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzGCConfig feeds arbitrary GC configs to the parsers GC runs before it
// touches the store: no panic, every rejection a CNI error with a parser
// code, and an accepted config always names a safe store directory.
func FuzzGCConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"host-local","dataDir":"/tmp/x"},"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{},"cni.dev/attachments":null,"cni.dev/valid-attachments":[]}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{},"cni.dev/valid-attachments":{"containerID":1}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{}}`))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		conf, err := hostlocal.ParseStoreConfig(stdin)
		testutil.RequireRejectionCode(t, err)
		if err == nil {
			if verr := hostlocal.ValidateNetworkName(conf.Name); verr != nil {
				t.Fatalf("store config accepted network name %q", conf.Name)
			}
		}
		_, err = hostlocal.ParseValidAttachments(stdin)
		testutil.RequireRejectionCode(t, err)
	})
}
