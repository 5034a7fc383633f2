package hostlocal

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// conf builds a network config around an ipam object and extra top-level keys.
func conf(version, ipam string, extra ...string) []byte {
	s := fmt.Sprintf(`{"cniVersion":%q,"name":"net1","type":"bridge","ipam":%s`, version, ipam)
	for _, e := range extra {
		s += "," + e
	}
	return []byte(s + "}")
}

// rangesString renders every set as "set: start-end gw ..." for goldens.
func rangesString(c *Config) string {
	var sets []string
	for _, s := range c.Ranges {
		var rs []string
		for _, r := range s {
			rs = append(rs, fmt.Sprintf("%s %s-%s gw %s", r.subnetString(), r.RangeStart, r.RangeEnd, r.Gateway))
		}
		sets = append(sets, strings.Join(rs, ", "))
	}
	return strings.Join(sets, " | ")
}

func TestParseConfigRanges(t *testing.T) {
	tests := []struct {
		name  string
		stdin []byte
		want  string
	}{
		{"legacy defaults v4", conf("1.0.0", `{"type":"host-local","subnet":"10.1.2.0/24"}`),
			"10.1.2.0/24 10.1.2.1-10.1.2.254 gw 10.1.2.1"},
		{"legacy explicit", conf("1.0.0", `{"subnet":"10.1.2.0/24","rangeStart":"10.1.2.10","rangeEnd":"10.1.2.20","gateway":"10.1.2.254"}`),
			"10.1.2.0/24 10.1.2.10-10.1.2.20 gw 10.1.2.254"},
		{"v6 defaults", conf("1.0.0", `{"ranges":[[{"subnet":"fd00::/120"}]]}`),
			"fd00::/120 fd00::1-fd00::ff gw fd00::1"},
		{"set of two ranges", conf("1.0.0", `{"ranges":[[{"subnet":"10.1.0.0/24"},{"subnet":"10.2.0.0/24"}]]}`),
			"10.1.0.0/24 10.1.0.1-10.1.0.254 gw 10.1.0.1, 10.2.0.0/24 10.2.0.1-10.2.0.254 gw 10.2.0.1"},
		{"order: ipRanges, subnet, ranges", conf("1.0.0", `{"subnet":"10.2.0.0/24","ranges":[[{"subnet":"fd00::/64"}]]}`,
			`"runtimeConfig":{"ipRanges":[[{"subnet":"10.3.0.0/30"}]]}`),
			"10.3.0.0/30 10.3.0.1-10.3.0.2 gw 10.3.0.1 | 10.2.0.0/24 10.2.0.1-10.2.0.254 gw 10.2.0.1 | fd00::/64 fd00::1-fd00::ffff:ffff:ffff:ffff gw fd00::1"},
		{"keys are case-insensitive", conf("1.0.0", `{"Subnet":"10.1.2.0/24","RangeStart":"10.1.2.5"}`),
			"10.1.2.0/24 10.1.2.5-10.1.2.254 gw 10.1.2.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.stdin, "")
			if err != nil {
				t.Fatal(err)
			}
			if got := rangesString(c); got != tt.want {
				t.Fatalf("ranges\n got %s\nwant %s", got, tt.want)
			}
			if c.DataDir != DefaultDataDir || c.Name != "net1" {
				t.Fatalf("dataDir %q name %q", c.DataDir, c.Name)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		stdin []byte
		args  string
		code  uint
		msg   string
	}{
		{"host bits", conf("1.0.0", `{"subnet":"10.1.2.3/24"}`), "", 7, `ipam: subnet "10.1.2.3/24": network has host bits set; for a /24 the network address is 10.1.2.0`},
		{"slash 31", conf("1.0.0", `{"subnet":"10.1.2.0/31"}`), "", 7, "too small to allocate from"},
		{"slash 32", conf("1.0.0", `{"ranges":[[{"subnet":"10.1.2.0/32"}]]}`), "", 7, `ipam.ranges[0][0]`},
		{"slash 127", conf("1.0.0", `{"ranges":[[{"subnet":"fd00::/127"}]]}`), "", 7, "too small"},
		{"slash 128", conf("1.0.0", `{"ranges":[[{"subnet":"fd00::/128"}]]}`), "", 7, "too small"},
		{"bad subnet", conf("1.0.0", `{"subnet":"10.1.2.0/33"}`), "", 7, `ipam.subnet "10.1.2.0/33": not a CIDR`},
		{"bad rangeStart", conf("1.0.0", `{"ranges":[[{"subnet":"10.1.2.0/24","rangeStart":"x"}]]}`), "", 7, `ipam.ranges[0][0].rangeStart "x": not an IP address`},
		{"rangeStart outside", conf("1.0.0", `{"subnet":"10.1.2.0/24","rangeStart":"10.1.3.1"}`), "", 7, "rangeStart 10.1.3.1: not in network 10.1.2.0/24"},
		{"rangeEnd outside", conf("1.0.0", `{"subnet":"10.1.2.0/24","rangeEnd":"10.1.3.1"}`), "", 7, "rangeEnd 10.1.3.1: not in network"},
		{"start after end", conf("1.0.0", `{"subnet":"10.1.2.0/24","rangeStart":"10.1.2.9","rangeEnd":"10.1.2.8"}`), "", 7, "after rangeEnd"},
		{"gateway family", conf("1.0.0", `{"subnet":"10.1.2.0/24","gateway":"fd00::1"}`), "", 7, "gateway fd00::1: not of the family"},
		{"overlap in set", conf("1.0.0", `{"ranges":[[{"subnet":"10.1.0.0/16"},{"subnet":"10.1.2.0/24"}]]}`), "", 7, "overlaps range 0"},
		{"family mix in set", conf("1.0.0", `{"ranges":[[{"subnet":"10.1.0.0/16"},{"subnet":"fd00::/64"}]]}`), "", 7, "mixes IPv4 and IPv6"},
		{"sets overlap", conf("1.0.0", `{"subnet":"10.1.0.0/16","ranges":[[{"subnet":"10.1.2.0/24"}]]}`), "", 7, "range set 1 (ipam.ranges[0], 10.1.2.1-10.1.2.254) overlaps range set 0 (ipam, 10.1.0.1-10.1.255.254)"},
		{"two v4 at 0.2.0", conf("0.2.0", `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"10.2.0.0/24"}]]}`), "", 7, `cniVersion "0.2.0" does not support more than one address per family`},
		{"empty set", conf("1.0.0", `{"ranges":[[]]}`), "", 7, "ipam.ranges[0]: empty range set"},
		{"missing subnet", conf("1.0.0", `{"ranges":[[{"rangeStart":"10.0.0.1"}]]}`), "", 7, "ipam.ranges[0][0].subnet: missing"},
		{"no ipam", []byte(`{"cniVersion":"1.0.0","name":"net1"}`), "", 7, `no "ipam" key`},
		{"bad JSON", []byte(`{"cniVersion":`), "", 6, "decode network config"},
		{"traversal in name", []byte(`{"cniVersion":"1.0.0","name":"../etc","ipam":{}}`), "", 7, `network name "../etc"`},
		{"slash in name", []byte(`{"cniVersion":"1.0.0","name":"a/b","ipam":{}}`), "", 7, `contains "/"`},
		{"bad routes", conf("1.0.0", `{"subnet":"10.1.0.0/24","routes":[{"dst":"nope"}]}`), "", 7, "ipam.routes"},
		{"unknown CNI_ARGS", conf("1.0.0", `{"subnet":"10.1.0.0/24"}`), "K8S_POD_NAME=x", 4, "unknown args"},
		{"bad CNI_ARGS IP", conf("1.0.0", `{"subnet":"10.1.0.0/24"}`), "IP=nope", 4, "CNI_ARGS"},
		{"bad args.cni.ips", conf("1.0.0", `{"subnet":"10.1.0.0/24"}`, `"args":{"cni":{"ips":["x"]}}`), "", 7, `args.cni.ips "x": not an IP address`},
		{"bad runtimeConfig.ips", conf("1.0.0", `{"subnet":"10.1.0.0/24"}`, `"runtimeConfig":{"ips":["1.2.3"]}`), "", 7, `runtimeConfig.ips "1.2.3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(tt.stdin, tt.args)
			if err == nil {
				t.Fatal("no error")
			}
			if cniplugin.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %q (code %d), want code %d containing %q", err, cniplugin.Code(err), tt.code, tt.msg)
			}
		})
	}
}

func TestParseConfigNoRanges(t *testing.T) {
	c, err := ParseConfig(conf("1.1.0", `{"type":"host-local"}`), "")
	if err != nil {
		t.Fatalf("a config without ranges must parse (STATUS, GC): %v", err)
	}
	if err := c.RequireRanges(); cniplugin.Code(err) != 7 || !strings.Contains(err.Error(), "no IP ranges specified") {
		t.Fatalf("RequireRanges = %v", err)
	}
}

func TestParseConfigRequested(t *testing.T) {
	c, err := ParseConfig(conf("1.0.0", `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`,
		`"args":{"cni":{"ips":["10.1.0.9","fd00::9/64"]}}`, `"runtimeConfig":{"ips":["10.1.0.7/24","10.1.0.9"]}`),
		"IgnoreUnknown=1;K8S_POD_NAME=p;IP=10.1.0.5/24")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range c.Requested {
		got = append(got, x.String())
	}
	if want := "10.1.0.5 10.1.0.9 fd00::9 10.1.0.7"; strings.Join(got, " ") != want {
		t.Fatalf("requested %v, want %s (CNI_ARGS, args.cni.ips, runtimeConfig.ips; deduplicated)", got, want)
	}
	if len(c.Requested[0]) != 4 {
		t.Fatal("requested IPv4 not in 4-byte form")
	}
}

func TestParseConfigRoutesAndStore(t *testing.T) {
	c, err := ParseConfig(conf("1.1.0", `{"subnet":"10.1.0.0/24","dataDir":"/run/x/../cni","resolvConf":"/etc/r",
		"routes":[{"dst":"0.0.0.0/0","gw":"10.1.0.254","mtu":1400,"advmss":1360,"priority":10,"table":100,"scope":0}]}`), "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c.Routes)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"dst":"0.0.0.0/0","gw":"10.1.0.254","mtu":1400,"advmss":1360,"priority":10,"table":100,"scope":0}]`
	if string(b) != want {
		t.Fatalf("routes\n got %s\nwant %s", b, want)
	}
	if c.DataDir != "/run/cni" || c.ResolvConf != "/etc/r" {
		t.Fatalf("dataDir %q resolvConf %q", c.DataDir, c.ResolvConf)
	}
	sc, err := ParseStoreConfig([]byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"subnet":"garbage"}}`))
	if err != nil || sc.Name != "n" || sc.DataDir != DefaultDataDir {
		t.Fatalf("ParseStoreConfig must ignore ranges: %+v %v", sc, err)
	}
}

func TestValidateNames(t *testing.T) {
	for _, bad := range []string{"", ".", "..", "../x", "a/b", "a\x00b", "-a", ".hidden", "a b", "ä", strings.Repeat("a", 256)} {
		if ValidateNetworkName(bad) == nil {
			t.Errorf("network name %q accepted", bad)
		}
		if bad != strings.Repeat("a", 256) && ValidateContainerID(bad) == nil {
			t.Errorf("container ID %q accepted", bad)
		}
	}
	for _, good := range []string{"net1", "a.b-c_d", "0abc"} {
		if err := ValidateNetworkName(good); err != nil {
			t.Errorf("network name %q: %v", good, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a:b", "a b", "a\nb", "a\x00", "abcdefghijklmnop"} {
		if ValidateIfName(bad) == nil {
			t.Errorf("ifname %q accepted", bad)
		}
	}
	for _, good := range []string{"eth0", "net1.100", "abcdefghijklmno"} {
		if err := ValidateIfName(good); err != nil {
			t.Errorf("ifname %q: %v", good, err)
		}
	}
}
