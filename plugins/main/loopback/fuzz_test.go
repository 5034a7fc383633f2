package main

import (
	"testing"

	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzParseConf feeds arbitrary configs, prevResult included, to the parser
// every loopback verb runs: no panic, every rejection a CNI error with a
// parser code.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"lo","type":"loopback"}`))
	f.Add([]byte(`{"cniVersion":"0.3.1","name":"lo","type":"loopback","prevResult":{"cniVersion":"0.3.1","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.0.0.2/24","interface":0}]}}`))
	f.Add([]byte(`{"cniVersion":"0.2.0","name":"lo","type":"loopback","prevResult":{"ip4":{"ip":"10.0.0.2/24"}}}`))
	f.Add([]byte(`{"cniVersion":"9.9.9","name":"lo","prevResult":{"cniVersion":"9.9.9"}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"lo","prevResult":[]}`))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		_, _, err := parseConf(stdin)
		testutil.RequireRejectionCode(t, err)
	})
}
