package hostlocal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podnet/podnet/pkg/cniplugin"
)

func request(cid, ifname, stdin string) Request {
	return Request{ContainerID: cid, IfName: ifname, StdinData: []byte(stdin)}
}

func verbConf(dataDir, extra string) string {
	return `{"cniVersion":"0.4.0","name":"net1","type":"bridge",` + extra +
		`"ipam":{"type":"host-local","dataDir":"` + dataDir + `","ranges":[[{"subnet":"10.6.0.0/29","rangeEnd":"10.6.0.3"}]],"routes":[{"dst":"0.0.0.0/0"}]}}`
}

// TestVerbs runs every verb through the Request API on a range of two
// addresses: allocation, result content, CHECK, STATUS when full, GC and
// DEL, each with the files they leave.
func TestVerbs(t *testing.T) {
	dir := t.TempDir()
	conf := verbConf(dir, "")
	res, ver, err := Add(request("c1", "eth0", conf))
	if err != nil {
		t.Fatal(err)
	}
	if ver != "0.4.0" || len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.6.0.2/29" || len(res.Routes) != 1 {
		t.Fatalf("ADD = %v (version %q)", res, ver)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "net1", "10.6.0.2")); err != nil || string(b) != "c1\r\neth0" {
		t.Fatalf("reservation file %q, %v", b, err)
	}
	if err := Check(request("c1", "eth0", verbConf(dir, `"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.6.0.2/29"}]},`))); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := Check(request("c2", "eth0", conf)); err == nil {
		t.Fatal("CHECK of an attachment without reservation passed")
	}
	if _, _, err := Add(request("c2", "eth0", conf)); err != nil {
		t.Fatal(err)
	}
	if err := Status(request("", "", conf)); cniplugin.Code(err) != cniplugin.ErrPluginNotAvailable {
		t.Fatalf("STATUS of a full pool = %v (code %d), want code 50", err, cniplugin.Code(err))
	}
	gc := strings.Replace(conf, "{", `{"cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],`, 1)
	if err := GC(request("", "", gc)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "net1", "10.6.0.3")); !os.IsNotExist(err) {
		t.Fatalf("GC left c2's reservation: %v", err)
	}
	if err := Del(request("c1", "eth0", conf)); err != nil {
		t.Fatal(err)
	}
	if err := Del(request("c1", "eth0", conf)); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "net1", "10.6.0.2")); !os.IsNotExist(err) {
		t.Fatalf("DEL left the reservation: %v", err)
	}
}

func TestVerbErrorCodes(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		run  func() error
		code uint
	}{
		{"ADD bad container ID", func() error { _, _, err := Add(request("../x", "eth0", verbConf(dir, ""))); return err }, 4},
		{"DEL bad ifname", func() error { return Del(request("c1", "a:b", verbConf(dir, ""))) }, 4},
		{"CHECK empty ifname", func() error { return Check(request("c1", "", verbConf(dir, ""))) }, 4},
		{"ADD bad CNI_ARGS", func() error {
			r := request("c1", "eth0", verbConf(dir, ""))
			r.Args = "FOO=bar"
			_, _, err := Add(r)
			return err
		}, 4},
		{"ADD malformed JSON", func() error { _, _, err := Add(request("c1", "eth0", "{")); return err }, 6},
		{"ADD no ranges", func() error {
			_, _, err := Add(request("c1", "eth0", `{"cniVersion":"1.1.0","name":"n","ipam":{"type":"host-local","dataDir":"`+dir+`"}}`))
			return err
		}, 7},
		{"GC without list", func() error { return GC(request("", "", verbConf(dir, ""))) }, 7},
	} {
		if err := tt.run(); cniplugin.Code(err) != tt.code {
			t.Errorf("%s: %v (code %d), want code %d", tt.name, err, cniplugin.Code(err), tt.code)
		}
	}
}

func TestParseValidAttachments(t *testing.T) {
	tests := []struct {
		name, stdin, want string
		code              uint
	}{
		{"new key", `{"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}]}`, "a/eth0", 0},
		{"old key", `{"cni.dev/attachments":[{"containerID":"b","ifname":"net1"}]}`, "b/net1", 0},
		{"both (libcni)", `{"cni.dev/valid-attachments":[{"containerID":"a","ifname":"eth0"}],"cni.dev/attachments":[{"containerID":"a","ifname":"eth0"}]}`, "a/eth0 a/eth0", 0},
		{"null means none", `{"cni.dev/valid-attachments":null}`, "", 0},
		{"empty means none", `{"cni.dev/valid-attachments":[]}`, "", 0},
		{"absent is refused", `{"name":"n"}`, "", 7},
		{"wrong type", `{"cni.dev/valid-attachments":"x"}`, "", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseValidAttachments([]byte(tt.stdin))
			if tt.code != 0 {
				if cniplugin.Code(err) != tt.code {
					t.Fatalf("err %v (code %d), want code %d", err, cniplugin.Code(err), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.ContainerID+"/"+a.IfName)
			}
			if strings.Join(s, " ") != tt.want {
				t.Fatalf("got %v, want %s", s, tt.want)
			}
		})
	}
}
