package cniplugin

import (
	"bytes"
	"net"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// libraryOutput is what types.PrintResult prints for res in version.
func libraryOutput(t *testing.T, res types.Result, version string) []byte {
	t.Helper()
	converted, err := res.GetAsVersion(version)
	if err != nil {
		t.Fatalf("library conversion to %s: %v", version, err)
	}
	var b bytes.Buffer
	if err := converted.PrintTo(&b); err != nil {
		t.Fatalf("library print: %v", err)
	}
	return b.Bytes()
}

// requireSameOutput prints res with PrintResult's writer and with the
// library, in versions, and requires the same bytes; for a 1.x version it
// also requires that the direct writer was used.
func requireSameOutput(t *testing.T, res func() *current.Result, versions ...string) {
	t.Helper()
	if len(versions) == 0 {
		versions = []string{"1.1.0", "1.0.0"}
	}
	for _, v := range versions {
		want := libraryOutput(t, res(), v)
		var got bytes.Buffer
		if err := printResultTo(&got, res(), v); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Errorf("%s: printed\n%s\nthe library prints\n%s", v, got.Bytes(), want)
		}
		if is1x(v) {
			if _, ok := encodeResult(res(), v); !ok {
				t.Errorf("%s: the direct writer gave up", v)
			}
		}
	}
}

func mustCIDR(s string) net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return *n
}

// TestPrintResultAsLibrary compares the direct 1.x writer with the
// library on results with every field set, none set, nil members, and
// strings that need escaping.
func TestPrintResultAsLibrary(t *testing.T) {
	table, scope := 100, 253
	zero := 0
	cases := map[string]func() *current.Result{
		"empty":        func() *current.Result { return &current.Result{} },
		"version-only": func() *current.Result { return &current.Result{CNIVersion: "1.0.0"} },
		"older 1.x source": func() *current.Result {
			return &current.Result{CNIVersion: "1.0.0", Interfaces: []*current.Interface{{Name: "eth0"}}}
		},
		"bridge": func() *current.Result {
			return &current.Result{
				CNIVersion: "1.1.0",
				Interfaces: []*current.Interface{
					{Name: "cni0", Mac: "0a:58:0a:58:00:01", Mtu: 1500},
					{Name: "veth1234abcd", Mac: "ee:11:22:33:44:55", Mtu: 1500},
					{Name: "eth0", Mac: "0a:58:0a:58:00:05", Mtu: 1500, Sandbox: "/var/run/netns/cni-1234"},
				},
				IPs: []*current.IPConfig{
					{Interface: current.Int(2), Address: mustCIDR("10.88.0.5/16"), Gateway: net.ParseIP("10.88.0.1")},
					{Interface: current.Int(2), Address: mustCIDR("fd00:88::5/64"), Gateway: net.ParseIP("fd00:88::1")},
				},
				Routes: []*types.Route{
					{Dst: mustCIDR("0.0.0.0/0"), GW: net.ParseIP("10.88.0.1")},
					{Dst: mustCIDR("::/0")},
				},
				DNS: types.DNS{Nameservers: []string{"10.96.0.10"}, Search: []string{"default.svc.cluster.local", "svc.cluster.local"}, Options: []string{"ndots:5"}},
			}
		},
		"every field": func() *current.Result {
			return &current.Result{
				Interfaces: []*current.Interface{{Name: "", SocketPath: "/run/vhost.sock", PciID: "0000:00:1f.6", Mtu: -1}},
				IPs: []*current.IPConfig{
					{Address: mustCIDR("10.1.2.3/32"), Interface: &zero},
					{Address: mustCIDR("192.168.0.1/24"), Gateway: net.ParseIP("192.168.0.254").To4()},
				},
				Routes: []*types.Route{{
					Dst: mustCIDR("10.0.0.0/8"), GW: net.ParseIP("10.0.0.1"), MTU: 9000, AdvMSS: 8960,
					Priority: 1 << 40, Table: &table, Scope: &scope,
				}, {Dst: mustCIDR("10.9.0.0/16"), Table: &zero, Scope: &zero}},
				DNS: types.DNS{Domain: "example.test"},
			}
		},
		"nil members": func() *current.Result {
			return &current.Result{
				Interfaces: []*current.Interface{nil, {Name: "eth0"}},
				IPs:        []*current.IPConfig{nil},
				Routes:     []*types.Route{nil, {Dst: mustCIDR("0.0.0.0/0")}},
			}
		},
		"empty lists and dns": func() *current.Result {
			return &current.Result{
				Interfaces: []*current.Interface{},
				DNS:        types.DNS{Nameservers: []string{}, Search: []string{}},
			}
		},
		"odd address": func() *current.Result {
			return &current.Result{IPs: []*current.IPConfig{{Address: net.IPNet{IP: net.ParseIP("10.0.0.1").To4(), Mask: net.IPMask{255, 0, 255, 0}}}}}
		},
		"escaping": func() *current.Result {
			return &current.Result{
				Interfaces: []*current.Interface{{
					Name:    "a\"b\\c<d>e&f\x00\x01\x1f\x7f\b\f\n\r\t",
					Mac:     "\u2028\u2029\u00e9\U0001F600",
					Sandbox: "bad\xffutf8\xc3\x28end\xe2\x82",
				}},
				DNS: types.DNS{Domain: "</script>", Options: []string{"\u007f", ""}},
			}
		},
	}
	for name, res := range cases {
		t.Run(name, func(t *testing.T) { requireSameOutput(t, res) })
	}
	// Older versions are the library's own conversion and print.
	requireSameOutput(t, cases["bridge"], "0.4.0", "0.3.1", "0.3.0", "0.2.0", "0.1.0")
}

// TestPrintResultFallsBack: an IP of a bad length is the library's error,
// not an output of the direct writer.
func TestPrintResultFallsBack(t *testing.T) {
	res := &current.Result{IPs: []*current.IPConfig{{Address: mustCIDR("10.0.0.2/24"), Gateway: net.IP{1, 2, 3}}}}
	if _, ok := encodeResult(res, "1.1.0"); ok {
		t.Error("the direct writer accepted a 3-byte gateway")
	}
	var b bytes.Buffer
	if err := printResultTo(&b, res, "1.1.0"); err == nil {
		t.Errorf("a 3-byte gateway printed %s, want the library's error", b.Bytes())
	}
}

// FuzzPrintResult builds results from fuzzed strings and numbers and
// requires the library's bytes.
func FuzzPrintResult(f *testing.F) {
	f.Add("eth0", "0a:58:00:00:00:01", "/var/run/netns/x", "10.96.0.10", "cluster.local", 1500, 7, true)
	f.Add("<&>", "\xff", "\u2028", "", "", -3, 1<<53+1, false)
	f.Fuzz(func(t *testing.T, name, mac, sandbox, ns, search string, mtu, n int, gw bool) {
		res := func() *current.Result {
			r := &current.Result{
				Interfaces: []*current.Interface{{Name: name, Mac: mac, Sandbox: sandbox, Mtu: mtu}},
				IPs:        []*current.IPConfig{{Interface: &n, Address: mustCIDR("10.0.0.2/24")}},
				Routes:     []*types.Route{{Dst: mustCIDR("0.0.0.0/0"), Priority: n, MTU: mtu, Table: &mtu}},
				DNS:        types.DNS{Nameservers: []string{ns}, Search: []string{search, name}},
			}
			if gw {
				r.IPs[0].Gateway = net.ParseIP("10.0.0.1")
			}
			return r
		}
		requireSameOutput(t, res)
	})
}
