package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func TestNewIPAMChoosesInProcessForHostLocal(t *testing.T) {
	for _, tc := range []struct {
		ipam, extra, want string
	}{
		{`{"type":"host-local"}`, ``, "*main.hostLocalIPAM"},
		{`{"type":"host-local"}`, `,"ipamExec":true`, "*main.execIPAM"},
		{`{"type":"dhcp"}`, ``, "*main.execIPAM"},
		{`{"type":"static"}`, `,"ipamExec":false`, "*main.execIPAM"},
		{`{}`, ``, "main.noIPAM"},
	} {
		stdin := `{"cniVersion":"1.1.0","name":"n","type":"bridge","ipam":` + tc.ipam + tc.extra + `}`
		conf, err := parseConf([]byte(stdin), "")
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", newIPAM(conf, call(stdin))); got != tc.want {
			t.Errorf("ipam %s%s: client %s, want %s", tc.ipam, tc.extra, got, tc.want)
		}
	}
}

// hostLocalCall is a bridge call on a host-local network of two addresses
// whose store is in dir.
func hostLocalCall(dir, version, cid string) *cniplugin.Call {
	stdin := fmt.Sprintf(`{"cniVersion":%q,"name":"n","type":"bridge","ipam":{"type":"host-local","dataDir":%q,
		"ranges":[[{"subnet":"10.9.0.0/29","rangeEnd":"10.9.0.3"}]],"routes":[{"dst":"0.0.0.0/0"}]}}`, version, dir)
	return &cniplugin.Call{CmdArgs: &cniplugin.CmdArgs{ContainerID: cid, IfName: "eth0", StdinData: []byte(stdin)}, Log: discardLog()}
}

// TestHostLocalIPAMVerbs drives the in-process client through every verb
// and every result version: the result converts as an exec'd plugin's
// would, errors keep host-local's code under the exec path's wording, and
// DEL releases the file.
func TestHostLocalIPAMVerbs(t *testing.T) {
	ctx := context.Background()
	for _, v := range []string{"0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		dir := t.TempDir()
		c := hostLocalCall(dir, v, "c1")
		conf, err := parseConf(c.StdinData, "")
		if err != nil {
			t.Fatal(err)
		}
		h := newIPAM(conf, c)
		res, err := h.Add(ctx)
		if err != nil {
			t.Fatalf("%s ADD: %v", v, err)
		}
		if len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.9.0.2/29" || res.IPs[0].Gateway.String() != "10.9.0.1" ||
			len(res.Routes) != 1 || res.Routes[0].Dst.String() != "0.0.0.0/0" {
			t.Fatalf("%s ADD result %v", v, res)
		}
		if err := h.Check(ctx); err != nil {
			t.Fatalf("%s CHECK: %v", v, err)
		}
		if err := h.Status(ctx); err != nil {
			t.Fatalf("%s STATUS: %v", v, err)
		}
		if _, err := newIPAM(conf, hostLocalCall(dir, v, "c2")).Add(ctx); err != nil {
			t.Fatalf("%s second ADD: %v", v, err)
		}
		_, err = newIPAM(conf, hostLocalCall(dir, v, "c3")).Add(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), `ipam "host-local" ADD: allocate from range set 0: no IP addresses available`) {
			t.Fatalf("%s ADD on a full range: %v", v, err)
		}
		if err := h.Status(ctx); cniplugin.Code(err) != cniplugin.ErrPluginNotAvailable || !strings.HasPrefix(err.Error(), `ipam "host-local" STATUS: `) {
			t.Fatalf("%s STATUS on a full range: %v (code %d), want code 50", v, err, cniplugin.Code(err))
		}
		if err := h.Del(ctx); err != nil {
			t.Fatalf("%s DEL: %v", v, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "n", "10.9.0.2")); !os.IsNotExist(err) {
			t.Fatalf("%s DEL left the reservation: %v", v, err)
		}
		if err := h.GC(ctx); cniplugin.Code(err) != cniplugin.ErrInvalidNetworkConfig {
			t.Fatalf("%s GC without an attachment list: %v (code %d), want code 7", v, err, cniplugin.Code(err))
		}
	}
}

func TestHostLocalIPAMBadContainerID(t *testing.T) {
	c := hostLocalCall(t.TempDir(), "1.1.0", "../escape")
	conf, err := parseConf(c.StdinData, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = newIPAM(conf, c).Add(context.Background())
	if cniplugin.Code(err) != cniplugin.ErrInvalidEnvironment || !strings.Contains(err.Error(), "CNI_CONTAINERID") {
		t.Fatalf("ADD with a bad container ID: %v (code %d), want code 4", err, cniplugin.Code(err))
	}
}
