package main

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

func TestBuildResult(t *testing.T) {
	mk := func(s string) net.IPNet {
		ip, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		n.IP = ip
		return *n
	}
	res := buildResult("/var/run/netns/p", []net.IPNet{mk("127.0.0.1/8"), mk("127.0.0.2/8"), mk("::1/128")})
	got, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"cniVersion":"1.1.0","interfaces":[{"mac":"00:00:00:00:00:00","name":"lo","sandbox":"/var/run/netns/p"}],` +
		`"ips":[{"address":"127.0.0.1/8","interface":0},{"address":"::1/128","interface":0}]}`
	if string(got) != want {
		t.Fatalf("result\n got %s\nwant %s", got, want)
	}
}

func TestParseConfErrors(t *testing.T) {
	if _, _, err := parseConf([]byte(`{"cniVersion":`)); cniplugin.Code(err) != cniplugin.ErrDecodingFailure {
		t.Fatalf("malformed JSON: code %d, want 6 (%v)", cniplugin.Code(err), err)
	}
	_, _, err := parseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"loopback","prevResult":{"ips":"x"}}`))
	if cniplugin.Code(err) != cniplugin.ErrDecodingFailure || !strings.Contains(err.Error(), "prevResult") {
		t.Fatalf("bad prevResult: code %d, err %v", cniplugin.Code(err), err)
	}
}

func TestPrivilegedLoopbackUpDown(t *testing.T) {
	pod := testutil.NewPod(t, "pod")
	pod.MustExec(t, "ip", "link", "set", "lo", "down")

	addrs, err := setupLoopback(pod.Path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range addrs {
		got = append(got, a.String())
	}
	if strings.Join(got, ",") != "127.0.0.1/8,::1/128" {
		t.Fatalf("addresses on lo = %v, want 127.0.0.1/8 and ::1/128", got)
	}
	if err := checkLoopback(pod.Path); err != nil {
		t.Fatalf("CHECK after ADD: %v", err)
	}
	if err := teardownLoopback(pod.Path); err != nil {
		t.Fatal(err)
	}
	if err := checkLoopback(pod.Path); err == nil || !strings.Contains(err.Error(), "down") {
		t.Fatalf("CHECK after DEL = %v, want an error saying lo is down", err)
	}
	pod.MustExec(t, "ip", "addr", "add", "10.9.9.9/32", "dev", "lo")
	if _, err := setupLoopback(pod.Path); cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig {
		t.Fatalf("lo with a foreign address: %v (code %d), want code 7", err, cniplugin.Code(err))
	}
	pod.Delete(t)
	if _, err := setupLoopback(pod.Path); cniplugin.Code(err) != cniplugin.ErrInvalidEnvironment {
		t.Fatalf("ADD in a vanished netns: code %d, want 4 (%v)", cniplugin.Code(err), err)
	}
}
