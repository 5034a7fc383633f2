package hostlocal

import (
	"net"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

// FuzzParseConfig feeds arbitrary network configs and CNI_ARGS to the
// parser ADD and CHECK use, and every accepted config to an allocation on a
// fake store: no panic, every rejection a CNI error with a parser code, and
// every allocation inside its range set, never the gateway, never twice.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"net1","ipam":{"type":"host-local","subnet":"10.1.0.0/24"}}`), "")
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"n","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/30","rangeStart":"10.1.0.1","rangeEnd":"10.1.0.2","gateway":"10.1.0.1"}],[{"subnet":"fd00::/126"}]],"routes":[{"dst":"0.0.0.0/0"}]}}`), "IgnoreUnknown=1;IP=10.1.0.2")
	f.Add([]byte(`{"cniVersion":"0.2.0","name":"n","ipam":{"type":"host-local","ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.2.0.0/24"}]]}}`), "IP=10.1.0.9/24")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"host-local"},"runtimeConfig":{"ips":["10.9.0.7"],"ipRanges":[[{"subnet":"10.9.0.0/29"}]]},"args":{"cni":{"ips":["10.9.0.7/29"]}}}`), "K8S_POD_NAME=x")
	f.Add([]byte(`{"cniVersion":"1.1.0","name":"../x","ipam":{"type":"host-local","dataDir":"rel/dir","subnet":"10.1.0.1/24"}}`), ";;=")
	f.Fuzz(func(t *testing.T, stdin []byte, cniArgs string) {
		c, err := ParseConfig(stdin, cniArgs)
		testutil.RequireRejectionCode(t, err)
		if err != nil {
			return
		}
		if verr := ValidateNetworkName(c.Name); verr != nil {
			t.Fatalf("accepted network name %q: %v", c.Name, verr)
		}
		if len(c.Ranges) == 0 {
			return
		}
		pool := &Pool{Store: NewFakeStore()}
		a1 := Attachment{ContainerID: "c1", IfName: "eth0"}
		a2 := Attachment{ContainerID: "c2", IfName: "eth0"}
		ips1, err := pool.Allocate(a1, c)
		testutil.RequireRejectionCode(t, err, append(testutil.ParserCodes, 11, 999)...)
		if err != nil {
			return
		}
		checkAllocated(t, c, ips1Addrs(ips1))
		c.Requested = nil
		ips2, err := pool.Allocate(a2, c)
		if err == nil {
			checkAllocated(t, c, ips1Addrs(ips2))
			for _, x := range ips1Addrs(ips1) {
				for _, y := range ips1Addrs(ips2) {
					if x.Equal(y) {
						t.Fatalf("address %s handed to two attachments", x)
					}
				}
			}
		}
		for _, a := range []Attachment{a1, a2} {
			if _, err := pool.Release(a); err != nil {
				t.Fatalf("release %v: %v", a, err)
			}
		}
		if left := pool.Store.(*FakeStore).Dump(); len(left) != 0 {
			t.Fatalf("store not empty after releasing everything: %v", left)
		}
	})
}

func ips1Addrs(ips []*current.IPConfig) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		out = append(out, ip.Address.IP)
	}
	return out
}

func checkAllocated(t *testing.T, c *Config, addrs []net.IP) {
	t.Helper()
	if len(addrs) != len(c.Ranges) {
		t.Fatalf("allocated %d addresses for %d range sets", len(addrs), len(c.Ranges))
	}
	for i, a := range addrs {
		r, ok := c.Ranges[i].RangeFor(a)
		if !ok {
			t.Fatalf("address %s outside range set %d (%s)", a, i, c.Ranges[i])
		}
		if r.Gateway != nil && r.Gateway.Equal(a) {
			t.Fatalf("allocated the gateway %s", a)
		}
	}
}

// FuzzValidateNames checks that whatever the name validators accept is
// one safe path element: never empty, ".", "..", or holding '/' or NUL.
func FuzzValidateNames(f *testing.F) {
	for _, s := range []string{"net1", "../x", "a/b", "a\x00b", ".", "..", "-x", strings.Repeat("a", 256), "eth0", "e:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, fn := range map[string]func(string) error{"network": ValidateNetworkName, "container": ValidateContainerID} {
			if fn(s) != nil {
				continue
			}
			if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\x00") || len(s) > maxContainerID {
				t.Fatalf("%s name %q accepted", name, s)
			}
		}
		if ValidateIfName(s) == nil && (s == "" || len(s) > 15 || strings.ContainsAny(s, "/:\x00 \t\n")) {
			t.Fatalf("interface name %q accepted", s)
		}
	})
}
