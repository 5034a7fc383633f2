package hostlocal

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// storeKinds runs a test against the fake and the disk store, so the
// allocator's behaviour is pinned on both.
func storeKinds(t *testing.T, fn func(t *testing.T, st Store)) {
	t.Run("fake", func(t *testing.T) { fn(t, NewFakeStore()) })
	t.Run("disk", func(t *testing.T) {
		st, err := OpenDisk(t.TempDir(), "net1", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
}

func mustConf(t *testing.T, ipam string, extra ...string) *Config {
	t.Helper()
	c, err := ParseConfig(conf("1.1.0", ipam, extra...), "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func att(i int) Attachment { return Attachment{ContainerID: fmt.Sprintf("c%d", i), IfName: "eth0"} }

func addrs(ips []*current.IPConfig) string {
	var s []string
	for _, x := range ips {
		s = append(s, x.Address.String()+" gw "+x.Gateway.String())
	}
	return strings.Join(s, ", ")
}

func mustAlloc(t *testing.T, p *Pool, a Attachment, c *Config) string {
	t.Helper()
	ips, err := p.Allocate(a, c)
	if err != nil {
		t.Fatalf("allocate for %v: %v", a, err)
	}
	return addrs(ips)
}

func TestAllocateRoundRobinAndWrap(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		// .0 network, .1 gateway, .2-.6 allocatable, .7 broadcast (excluded by default rangeEnd .6).
		c := mustConf(t, `{"subnet":"10.1.0.0/29"}`)
		var got []string
		for i := 0; i < 5; i++ {
			got = append(got, mustAlloc(t, p, att(i), c))
		}
		want := "10.1.0.2/29 gw 10.1.0.1,10.1.0.3/29 gw 10.1.0.1,10.1.0.4/29 gw 10.1.0.1,10.1.0.5/29 gw 10.1.0.1,10.1.0.6/29 gw 10.1.0.1"
		if strings.Join(got, ",") != want {
			t.Fatalf("allocations\n got %s\nwant %s", strings.Join(got, ","), want)
		}
		// Exhausted: error names the range set, nothing reserved.
		_, err := p.Allocate(att(9), c)
		if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "no IP addresses available in range set: 10.1.0.1-10.1.0.6") {
			t.Fatalf("exhausted: %v", err)
		}
		// Release .3: not reused until the cursor wraps; then it is.
		if _, err := p.Release(att(1)); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Release(att(3)); err != nil {
			t.Fatal(err)
		}
		if got := mustAlloc(t, p, att(10), c); got != "10.1.0.3/29 gw 10.1.0.1" {
			t.Fatalf("after wrap got %s, want 10.1.0.3 (first free after the last reserved .6)", got)
		}
		if got := mustAlloc(t, p, att(11), c); got != "10.1.0.5/29 gw 10.1.0.1" {
			t.Fatalf("round-robin got %s, want 10.1.0.5", got)
		}
	})
}

func TestAllocateSkipsGatewayNetworkBroadcast(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		// A range covering the whole /30 including network and broadcast, gateway in the middle.
		c := mustConf(t, `{"ranges":[[{"subnet":"10.9.0.0/30","rangeStart":"10.9.0.0","rangeEnd":"10.9.0.3","gateway":"10.9.0.2"}]]}`)
		if got := mustAlloc(t, p, att(1), c); got != "10.9.0.1/30 gw 10.9.0.2" {
			t.Fatalf("got %s", got)
		}
		if _, err := p.Allocate(att(2), c); !errors.Is(err, ErrExhausted) {
			t.Fatalf("only .1 is allocatable in this /30; got %v", err)
		}
	})
}

func TestAllocateMultiRangeSetAndIPv6(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		c := mustConf(t, `{"ranges":[
			[{"subnet":"10.1.0.0/30"},{"subnet":"10.2.0.0/24","rangeStart":"10.2.0.100","rangeEnd":"10.2.0.101"}],
			[{"subnet":"fd00:1::/120","rangeStart":"fd00:1::fe"}]]}`)
		want := []string{
			"10.1.0.2/30 gw 10.1.0.1, fd00:1::fe/120 gw fd00:1::1",
			"10.2.0.100/24 gw 10.2.0.1, fd00:1::ff/120 gw fd00:1::1",
		}
		for i, w := range want {
			if got := mustAlloc(t, p, att(i), c); got != w {
				t.Fatalf("allocation %d\n got %s\nwant %s", i, got, w)
			}
		}
		// The v6 set is now full: the ADD fails and releases its v4 address.
		_, err := p.Allocate(att(5), c)
		if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "range set 1") {
			t.Fatalf("v6 exhausted: %v", err)
		}
		if held := lookup(t, st, att(5)); len(held) != 0 {
			t.Fatalf("failed ADD left %v reserved", held)
		}
	})
}

func lookup(t *testing.T, st Store, a Attachment) []net.IP {
	t.Helper()
	if err := st.Lock(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Unlock() }()
	held, err := st.Lookup(a)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestAllocateRequested(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		ipam := `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`
		c := mustConf(t, ipam, `"runtimeConfig":{"ips":["10.1.0.50","fd00::50"]}`)
		if got := mustAlloc(t, p, att(1), c); got != "10.1.0.50/24 gw 10.1.0.1, fd00::50/64 gw fd00::1" {
			t.Fatalf("got %s", got)
		}
		// Only the v4 address requested: the v6 one is round-robin.
		c2 := mustConf(t, ipam, `"args":{"cni":{"ips":["10.1.0.51"]}}`)
		if got := mustAlloc(t, p, att(2), c2); got != "10.1.0.51/24 gw 10.1.0.1, fd00::51/64 gw fd00::1" {
			t.Fatalf("got %s (cursor of set 1 follows the last reserved fd00::50)", got)
		}
		// Taken: refused, and the v6 address of this ADD is released.
		c3 := mustConf(t, ipam, `"runtimeConfig":{"ips":["10.1.0.50"]}`)
		if _, err := p.Allocate(att(3), c3); err == nil || !strings.Contains(err.Error(), "requested IP address 10.1.0.50 is not available in range set 10.1.0.1-10.1.0.254") {
			t.Fatalf("taken requested IP: %v", err)
		}
		if held := lookup(t, st, att(3)); len(held) != 0 {
			t.Fatalf("failed ADD left %v", held)
		}
		for _, tt := range []struct{ ips, msg string }{
			{`"10.1.0.1"`, "requested IP 10.1.0.1 is the gateway of subnet 10.1.0.0/24"},
			{`"10.9.0.1"`, `requested IP 10.9.0.1 is in no range set of network "net1"`},
			{`"10.1.0.7","10.1.0.8"`, "requested IPs 10.1.0.7 and 10.1.0.8 are both in range set 0"},
		} {
			c := mustConf(t, ipam, `"runtimeConfig":{"ips":[`+tt.ips+`]}`)
			_, err := p.Allocate(att(4), c)
			if cniplugin.Code(err) != 7 || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ips %s: %v (code %d), want code 7 %q", tt.ips, err, cniplugin.Code(err), tt.msg)
			}
		}
	})
}

func TestAllocateDuplicateRefused(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
		mustAlloc(t, p, att(1), c)
		_, err := p.Allocate(att(1), c)
		if err == nil || !strings.Contains(err.Error(), "10.1.0.2 has been allocated to c1, duplicate allocation is not allowed") {
			t.Fatalf("duplicate ADD: %v", err)
		}
		// The same container on another interface is a different attachment.
		if got := mustAlloc(t, p, Attachment{ContainerID: "c1", IfName: "net1"}, c); got != "10.1.0.3/24 gw 10.1.0.1" {
			t.Fatalf("second interface got %s", got)
		}
		if held := lookup(t, st, att(1)); len(held) != 1 || !held[0].Equal(net.ParseIP("10.1.0.2")) {
			t.Fatalf("the refused duplicate must keep the first reservation: %v", held)
		}
	})
}

func TestAllocateRollbackOnStoreError(t *testing.T) {
	st := NewFakeStore()
	st.ReserveErr[string(net.ParseIP("fd00::2").To16())] = errors.New("disk full")
	p := &Pool{Store: st}
	c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)
	_, err := p.Allocate(att(1), c)
	if cniplugin.Code(err) != cniplugin.ErrIOFailure || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("error %v (code %d), want code 5 with the cause", err, cniplugin.Code(err))
	}
	if d := st.Dump(); len(d) != 0 {
		t.Fatalf("failed ADD left %v", d)
	}
}

func TestReleaseLegacyAndIdempotent(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		c := mustConf(t, `{"subnet":"10.1.0.0/24"}`)
		mustAlloc(t, p, att(1), c)
		// A reservation written before host-local recorded ifnames.
		legacy := Attachment{ContainerID: "c2"}
		if err := st.Lock(); err != nil {
			t.Fatal(err)
		}
		if ok, err := st.Reserve(legacy, net.ParseIP("10.1.0.77").To4(), 0); !ok || err != nil {
			t.Fatal(ok, err)
		}
		_ = st.Unlock()
		rel, err := p.Release(att(2))
		if err != nil || len(rel) != 1 || rel[0].String() != "10.1.0.77" {
			t.Fatalf("DEL c2/eth0 must release the legacy c2 reservation: %v %v", rel, err)
		}
		for i := 0; i < 2; i++ {
			rel, err = p.Release(att(1))
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(rel) != 0 {
			t.Fatalf("second DEL released %v", rel)
		}
		if held := lookup(t, st, att(1)); len(held) != 0 {
			t.Fatalf("still held: %v", held)
		}
	})
}

func TestCheck(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)
		mustAlloc(t, p, att(1), c)
		v4, v6 := net.ParseIP("10.1.0.2"), net.ParseIP("fd00::2")
		if err := p.Check(att(1), c, nil); err != nil {
			t.Fatalf("CHECK without prevResult: %v", err)
		}
		if err := p.Check(att(1), c, []net.IP{v4, v6, net.ParseIP("192.0.2.9")}); err != nil {
			t.Fatalf("CHECK with matching prevResult (plus a foreign address): %v", err)
		}
		for _, tt := range []struct {
			name string
			a    Attachment
			prev []net.IP
			msg  string
		}{
			{"other address", att(1), []net.IP{net.ParseIP("10.1.0.3"), v6}, "10.1.0.2 is reserved for container \"c1\" interface \"eth0\" in network \"net1\" but missing from prevResult"},
			{"extra address", att(1), []net.IP{v4, v6, net.ParseIP("10.1.0.9")}, "prevResult address 10.1.0.9 is not reserved"},
			{"no reservation", att(2), nil, "no address of range set 0 (10.1.0.1-10.1.0.254) is reserved for container \"c2\""},
		} {
			if err := p.Check(tt.a, c, tt.prev); err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%s: %v, want %q", tt.name, err, tt.msg)
			}
		}
	})
}

func TestGC(t *testing.T) {
	storeKinds(t, func(t *testing.T, st Store) {
		p := &Pool{Store: st}
		c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/24"}],[{"subnet":"fd00::/64"}]]}`)
		for i := 1; i <= 4; i++ {
			mustAlloc(t, p, att(i), c)
		}
		if err := st.Lock(); err != nil {
			t.Fatal(err)
		}
		_, _ = st.Reserve(Attachment{ContainerID: "c2"}, net.ParseIP("10.1.0.200").To4(), 0) // legacy, c2 valid
		_, _ = st.Reserve(Attachment{ContainerID: "c9"}, net.ParseIP("10.1.0.201").To4(), 0) // legacy, c9 gone
		_ = st.Unlock()
		removed, err := p.GC([]Attachment{att(2), att(4), {ContainerID: "c7", IfName: "eth0"}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range removed {
			got = append(got, r.IP.String()+" "+r.content())
		}
		want := "10.1.0.2 c1\r\neth0,10.1.0.201 c9,10.1.0.4 c3\r\neth0,fd00::2 c1\r\neth0,fd00::4 c3\r\neth0"
		if s := strings.Join(sortedStrings(got), ","); s != want {
			t.Fatalf("removed\n got %q\nwant %q", s, want)
		}
		for _, keep := range []Attachment{att(2), att(4), {ContainerID: "c2"}} {
			if len(lookup(t, st, keep)) == 0 {
				t.Fatalf("GC removed valid %v", keep)
			}
		}
		// An empty list is meaningful: nothing is valid.
		if _, err := p.GC(nil); err != nil {
			t.Fatal(err)
		}
		if err := st.Lock(); err != nil {
			t.Fatal(err)
		}
		left, _ := st.Reserved()
		_ = st.Unlock()
		if len(left) != 0 {
			t.Fatalf("GC with no valid attachment left %d reservations", len(left))
		}
	})
}

func TestStatus(t *testing.T) {
	st := NewFakeStore()
	p := &Pool{Store: st}
	c := mustConf(t, `{"ranges":[[{"subnet":"10.1.0.0/30"}],[{"subnet":"fd00::/64"}]]}`)
	if err := p.Status(c, "d"); err != nil {
		t.Fatalf("STATUS on an empty pool: %v", err)
	}
	mustAlloc(t, p, att(1), c)
	err := p.Status(c, "d")
	if cniplugin.Code(err) != 50 || !strings.Contains(err.Error(), "range set 0 (10.1.0.1-10.1.0.2): 1 of 1 addresses reserved") {
		t.Fatalf("STATUS with set 0 exhausted: %v (code %d)", err, cniplugin.Code(err))
	}
	if err := p.Status(&Config{Name: "net1"}, "d"); err != nil {
		t.Fatalf("STATUS without ranges (ipRanges at ADD time) must only probe: %v", err)
	}
	st.ProbeErr = errors.New("read-only file system")
	if err := p.Status(c, "/var/lib/cni/networks/net1"); cniplugin.Code(err) != 50 || !strings.Contains(err.Error(), "store /var/lib/cni/networks/net1 is not writable: read-only file system") {
		t.Fatalf("STATUS unwritable: %v", err)
	}
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
