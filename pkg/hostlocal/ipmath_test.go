package hostlocal

import (
	"net"
	"testing"
)

func TestIPMath(t *testing.T) {
	tests := []struct{ in, next, prev string }{
		{"10.0.0.1", "10.0.0.2", "10.0.0.0"},
		{"10.0.0.255", "10.0.1.0", "10.0.0.254"},
		{"255.255.255.255", "0.0.0.0", "255.255.255.254"},
		{"0.0.0.0", "0.0.0.1", "255.255.255.255"},
		{"fd00::ffff", "fd00::1:0", "fd00::fffe"},
		{"::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	}
	for _, tt := range tests {
		ip := net.ParseIP(tt.in)
		if got := nextIP(ip).String(); got != tt.next {
			t.Errorf("nextIP(%s) = %s, want %s", tt.in, got, tt.next)
		}
		if got := prevIP(ip).String(); got != tt.prev {
			t.Errorf("prevIP(%s) = %s, want %s", tt.in, got, tt.prev)
		}
		if len(nextIP(ip)) != len(normalize(ip)) {
			t.Errorf("nextIP(%s) changed the address length", tt.in)
		}
	}
	if nextIP(nil) != nil || prevIP(net.IP{1, 2}) != nil {
		t.Error("non-addresses must give nil")
	}
	cmp := []struct {
		a, b string
		want int
	}{
		{"10.0.0.1", "10.0.0.2", -1}, {"10.0.0.2", "10.0.0.1", 1}, {"10.0.0.1", "10.0.0.1", 0},
		{"10.0.0.1", "::1", -2}, {"fd00::1", "fd00::2", -1},
	}
	for _, c := range cmp {
		if got := cmpIP(net.ParseIP(c.a), net.ParseIP(c.b)); got != c.want {
			t.Errorf("cmpIP(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
	for s, want := range map[string]string{"10.1.2.3": "10.1.2.3", "10.1.2.3/24": "10.1.2.3", "fd00::5/64": "fd00::5", "x": "<nil>", "10.1.2.3/99": "<nil>"} {
		if got := parseIPOrCIDR(s).String(); got != want {
			t.Errorf("parseIPOrCIDR(%q) = %s, want %s", s, got, want)
		}
	}
	var a argIP
	if err := a.UnmarshalText([]byte("10.9.9.9/16")); err != nil || a.ip.String() != "10.9.9.9" {
		t.Errorf("argIP = %v, %v", a.ip, err)
	}
	if err := a.UnmarshalText([]byte("nope")); err == nil {
		t.Error("argIP accepted a non-address")
	}
}
