package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func call(cmd, cid, ifname, stdin, args string) *cniplugin.Call {
	return &cniplugin.Call{
		CmdArgs: &cniplugin.CmdArgs{ContainerID: cid, IfName: ifname, Netns: "/nonexistent", Args: args, StdinData: []byte(stdin)},
		Command: cmd,
		Log:     slog.New(slog.DiscardHandler),
	}
}

// captureStdout runs fn and returns what it printed.
func captureStdout(t *testing.T, fn func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	err = fn()
	os.Stdout = old
	_ = w.Close()
	out, _ := io.ReadAll(r)
	return string(out), err
}

func netconf(dataDir, extra string) string {
	return `{"cniVersion":"0.4.0","name":"net1","type":"host-local",` + extra +
		`"ipam":{"type":"host-local","dataDir":"` + dataDir + `","subnet":"10.5.0.0/24","resolvConf":"` + filepath.Join(dataDir, "resolv.conf") + `"}}`
}

func TestVerbsInProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("# c\nnameserver 10.0.0.53\nsearch a.example b.example\ndomain example\noptions ndots:2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := captureStdout(t, func() error {
		return cmdAdd(call("ADD", "c1", "eth0", netconf(dir, ""), "IgnoreUnknown=1;K8S_POD_NAME=p"))
	})
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("result %q: %v", out, err)
	}
	dns, _ := json.Marshal(res["dns"])
	if res["cniVersion"] != "0.4.0" || !strings.Contains(out, `"address": "10.5.0.2/24"`) || !strings.Contains(out, `"version": "4"`) ||
		string(dns) != `{"domain":"example","nameservers":["10.0.0.53"],"options":["ndots:2"],"search":["a.example","b.example"]}` {
		t.Fatalf("ADD result:\n%s", out)
	}
	prev := `"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.5.0.2/24"}]},`
	if err := cmdCheck(call("CHECK", "c1", "eth0", netconf(dir, prev), "")); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	wrong := `"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.5.0.9/24"}]},`
	if err := cmdCheck(call("CHECK", "c1", "eth0", netconf(dir, wrong), "")); err == nil {
		t.Fatal("CHECK passed with a prevResult address that is not reserved")
	}
	if err := cmdDel(call("DEL", "c1", "eth0", netconf(dir, ""), "K8S_POD_NAME=ignored-on-del")); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if err := cmdCheck(call("CHECK", "c1", "eth0", netconf(dir, prev), "")); err == nil {
		t.Fatal("CHECK passed after DEL")
	}
	if _, err := os.Stat(filepath.Join(dir, "net1", "10.5.0.2")); !os.IsNotExist(err) {
		t.Fatalf("reservation still on disk after DEL: %v", err)
	}
}

func TestAttachmentValidation(t *testing.T) {
	for _, tt := range []struct{ cid, ifname string }{{"../x", "eth0"}, {"a/b", "eth0"}, {"c1", "a:b"}, {"c1", ""}, {"", "eth0"}} {
		for name, verb := range map[string]func(*cniplugin.Call) error{"ADD": cmdAdd, "DEL": cmdDel, "CHECK": cmdCheck} {
			err := verb(call(name, tt.cid, tt.ifname, netconf(t.TempDir(), ""), ""))
			if cniplugin.Code(err) != cniplugin.ErrInvalidEnvironment {
				t.Errorf("%s (%q, %q): %v (code %d), want code 4", name, tt.cid, tt.ifname, err, cniplugin.Code(err))
			}
		}
	}
}
