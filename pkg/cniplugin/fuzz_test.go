package cniplugin

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// parserCodes are the codes a rejected config may carry; 999 is never one.
var parserCodes = []uint{ErrIncompatibleCNIVersion, ErrUnsupportedField, ErrInvalidEnvironment, ErrDecodingFailure, ErrInvalidNetworkConfig}

func requireCode(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if e := ToCNIError(err); !slices.Contains(parserCodes, e.Code) || e.Msg == "" {
		t.Fatalf("rejection {%d %q}, want one of codes %v with a message", e.Code, e.Msg, parserCodes)
	}
}

// FuzzParsePrevResult feeds arbitrary configs to the framework's checks
// (the cniVersion check, DecodeConf) and to prevResult decoding: no panic, every
// rejection a code, and an accepted prevResult converts to the current
// result type and prints.
func FuzzParsePrevResult(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.0.0.2/24","gateway":"10.0.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{"nameservers":["10.0.0.1"]}}}`))
	f.Add([]byte(`{"cniVersion":"0.4.0","name":"n","prevResult":{"cniVersion":"0.4.0","ips":[{"version":"6","address":"fd00::2/64","interface":5}]}}`))
	f.Add([]byte(`{"cniVersion":"0.2.0","name":"n","prevResult":{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","routes":[{"dst":"0.0.0.0/0"}]}}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","prevResult":{"cniVersion":"0.1.0","ips":"x"}}`))
	f.Add([]byte(`{"name":"n"}`))
	f.Add([]byte(`{"cniVersion":"","name":"n","prevResult":null}`))
	f.Fuzz(func(t *testing.T, stdin []byte) {
		var head confHead // as run decodes it
		if err := DecodeConf(stdin, &head); err == nil {
			requireCode(t, head.requireVersion())
		}
		var conf types.PluginConf
		err := DecodeConf(stdin, &conf)
		requireCode(t, err)
		if err != nil {
			return
		}
		prev, err := ParsePrevResult(&conf)
		requireCode(t, err)
		if err != nil || prev == nil {
			return
		}
		res, err := current.NewResultFromResult(prev)
		if err != nil {
			return
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("marshal converted prevResult: %v", err)
		}
	})
}
