package cniplugin

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// outcome is what one invocation did: the verb it called with which
// arguments, or the error it printed, and what VERSION printed.
type outcome struct {
	Verb    string
	Args    CmdArgs
	Code    uint
	Msg     string
	Details string
	Stdout  string
}

// dispatchCase is one environment and config.
type dispatchCase struct {
	name  string
	env   map[string]string
	stdin string
}

const goodConf = `{"cniVersion":"1.1.0","name":"net-1","type":"x"}`

// env is a full ADD environment with the given changes ("" deletes).
func env(changes ...string) map[string]string {
	e := map[string]string{
		"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c-1", "CNI_NETNS": "/var/run/netns/p", "CNI_IFNAME": "eth0",
		"CNI_PATH": "/opt/cni/bin", "CNI_ARGS": "K=V", "CNI_NETNS_OVERRIDE": "1",
	}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "" {
			delete(e, changes[i])
		} else {
			e[changes[i]] = changes[i+1]
		}
	}
	return e
}

// dispatchCases are the inputs on which run must do what skel does.
var dispatchCases = []dispatchCase{
	{"add", env(), goodConf},
	{"add 0.3.0", env(), `{"cniVersion":"0.3.0","name":"n","type":"x"}`},
	{"del without netns", env("CNI_COMMAND", "DEL", "CNI_NETNS", ""), goodConf},
	{"check", env("CNI_COMMAND", "CHECK"), goodConf},
	{"check 0.3.1", env("CNI_COMMAND", "CHECK"), `{"cniVersion":"0.3.1","name":"n"}`},
	{"gc", map[string]string{"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"}, goodConf},
	{"gc 1.0.0", map[string]string{"CNI_COMMAND": "GC", "CNI_PATH": "/opt/cni/bin"}, `{"cniVersion":"1.0.0","name":"n"}`},
	{"status", map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/p"}, goodConf},
	{"status 0.4.0", map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/p"}, `{"cniVersion":"0.4.0","name":"n"}`},
	{"status without path", map[string]string{"CNI_COMMAND": "STATUS"}, goodConf},
	{"version", map[string]string{"CNI_COMMAND": "VERSION"}, ""},
	{"version ignores stdin", map[string]string{"CNI_COMMAND": "VERSION"}, "not json"},
	{"unknown command", env("CNI_COMMAND", "FROB"), goodConf},
	{"unknown command, bad json", env("CNI_COMMAND", "FROB"), `{"cniVersion":"1.1.0",`},
	{"missing several", env("CNI_CONTAINERID", "", "CNI_IFNAME", "", "CNI_PATH", ""), goodConf},
	{"missing netns", env("CNI_NETNS", ""), goodConf},
	{"missing before bad json", env("CNI_PATH", ""), `nope`},
	{"bad container id", env("CNI_CONTAINERID", "-c"), goodConf},
	{"bad container id unicode", env("CNI_CONTAINERID", "cé"), goodConf},
	{"container id with dots", env("CNI_CONTAINERID", "a_b.c-d"), goodConf},
	{"bad container id before missing", env("CNI_CONTAINERID", "c/1", "CNI_PATH", ""), goodConf},
	{"ifname too long", env("CNI_IFNAME", "abcdefghijklmnop"), goodConf},
	{"ifname 15", env("CNI_IFNAME", "abcdefghijklmno"), goodConf},
	{"ifname dot", env("CNI_IFNAME", "."), goodConf},
	{"ifname dotdot", env("CNI_IFNAME", ".."), goodConf},
	{"ifname slash", env("CNI_IFNAME", "a/b"), goodConf},
	{"ifname colon", env("CNI_IFNAME", "a:b"), goodConf},
	{"ifname space", env("CNI_IFNAME", "a\u00a0b"), goodConf},
	{"del bad ifname", env("CNI_COMMAND", "DEL", "CNI_IFNAME", "a b"), goodConf},
	{"gc ignores bad ifname", map[string]string{"CNI_COMMAND": "GC", "CNI_PATH": "/p", "CNI_IFNAME": "a/b"}, goodConf},
	{"bad json", env(), `{"cniVersion":"1.1.0"`},
	{"missing name", env(), `{"cniVersion":"1.1.0","type":"x"}`},
	{"bad name", env(), `{"cniVersion":"1.1.0","name":"a b"}`},
	{"bad name start", env(), `{"cniVersion":"1.1.0","name":"_a"}`},
	{"unsupported version", env(), `{"cniVersion":"9.9.9","name":"n"}`},
	{"malformed version for check", env("CNI_COMMAND", "CHECK"), `{"cniVersion":"x.y","name":"n"}`},
	{"malformed version for add", env(), `{"cniVersion":"x.y","name":"n"}`},
}

// viaRun runs our dispatcher.
func viaRun(t *testing.T, c dispatchCase, versions version.PluginInfo) outcome {
	t.Helper()
	var got outcome
	verb := func(name string) func(*Call) error {
		return func(call *Call) error {
			got.Verb, got.Args = name, *call.CmdArgs
			return nil
		}
	}
	p := Plugin{Name: "x", Versions: versions, Funcs: Funcs{Add: verb("ADD"), Del: verb("DEL"), Check: verb("CHECK"), Status: verb("STATUS"), GC: verb("GC")}}
	var stdout bytes.Buffer
	getenv := func(k string) string { return c.env[k] }
	if rc := run(p, getenv, strings.NewReader(c.stdin), &stdout, io.Discard); rc != 0 {
		var e types.Error
		if err := json.Unmarshal(stdout.Bytes(), &e); err != nil {
			t.Fatalf("exit %d with stdout %q: %v", rc, stdout.String(), err)
		}
		got.Code, got.Msg, got.Details = e.Code, e.Msg, e.Details
		return got
	}
	got.Stdout = stdout.String()
	return got
}

// viaSkel runs the upstream dispatcher on the same input, through the
// process's environment, stdin and stdout.
func viaSkel(t *testing.T, c dispatchCase, versions version.PluginInfo) outcome {
	t.Helper()
	for _, k := range []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "CNI_NETNS_OVERRIDE"} {
		t.Setenv(k, c.env[k])
	}
	var got outcome
	verb := func(name string) func(*skel.CmdArgs) error {
		return func(a *skel.CmdArgs) error {
			got.Verb = name
			got.Args = CmdArgs{ContainerID: a.ContainerID, Netns: a.Netns, IfName: a.IfName, Args: a.Args, Path: a.Path, NetnsOverride: a.NetnsOverride, StdinData: a.StdinData}
			return nil
		}
	}
	stdin, stdout := redirect(t, &os.Stdin, c.stdin), redirect(t, &os.Stdout, "")
	funcs := skel.CNIFuncs{Add: verb("ADD"), Del: verb("DEL"), Check: verb("CHECK"), Status: verb("STATUS"), GC: verb("GC")}
	e := skel.PluginMainFuncsWithError(funcs, versions, "about")
	stdin()
	out := stdout()
	if e != nil {
		got.Code, got.Msg, got.Details = e.Code, e.Msg, e.Details
		return got
	}
	got.Stdout = out
	return got
}

// redirect points *f at a pipe: for os.Stdin filled with data, for
// os.Stdout read back. The returned func restores *f and returns what was
// written.
func redirect(t *testing.T, f **os.File, data string) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := *f
	if f == &os.Stdin {
		*f = r
		if _, err := w.WriteString(data); err != nil {
			t.Fatal(err)
		}
		w.Close()
		return func() string { *f = old; r.Close(); return "" }
	}
	*f = w
	done := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		done <- string(b)
	}()
	return func() string { *f = old; w.Close(); s := <-done; r.Close(); return s }
}

// TestDispatchAsSkel checks that run calls the same verb with the same
// arguments as skel, or fails with the same code, message and details,
// for plugins supporting every version and only some.
func TestDispatchAsSkel(t *testing.T) {
	for _, versions := range []version.PluginInfo{version.All, version.PluginSupports("0.4.0", "1.0.0")} {
		for _, c := range dispatchCases {
			t.Run(strings.Join(versions.SupportedVersions(), ",")+"/"+c.name, func(t *testing.T) {
				ours, theirs := viaRun(t, c, versions), viaSkel(t, c, versions)
				if !reflect.DeepEqual(ours, theirs) {
					t.Errorf("run:  %+v\nskel: %+v", ours, theirs)
				}
			})
		}
	}
}

// TestDispatchTypeErrors: a config of the wrong JSON shape is code 6, as
// with skel, named by its keys rather than by Go types.
func TestDispatchTypeErrors(t *testing.T) {
	for stdin, want := range map[string]string{
		`[]`:                             "error unmarshall network config: the config is an array, want an object",
		`{"name":5}`:                     `error unmarshall network config: key "name" is a number, want a string`,
		`{"cniVersion":true,"name":"n"}`: `error unmarshall network config: key "cniVersion" is a bool, want a string`,
	} {
		c := dispatchCase{stdin, env(), stdin}
		ours, theirs := viaRun(t, c, version.All), viaSkel(t, c, version.All)
		if ours.Code != ErrDecodingFailure || theirs.Code != ErrDecodingFailure || ours.Msg != want {
			t.Errorf("%s: run {%d %q}, skel code %d; want code 6 %q", stdin, ours.Code, ours.Msg, theirs.Code, want)
		}
	}
}

// TestDispatchBeyondSkel covers what run refuses that skel would pass on:
// each a coded error, before any verb runs.
func TestDispatchBeyondSkel(t *testing.T) {
	own := "/proc/self/ns/net"
	for _, c := range []struct {
		name  string
		env   map[string]string
		stdin string
		code  uint
		msg   string
	}{
		{"no cniVersion", env(), `{"name":"n"}`, ErrIncompatibleCNIVersion, "network config has no cniVersion"},
		{"empty cniVersion", env(), `{"cniVersion":"","name":"n"}`, ErrIncompatibleCNIVersion, "network config has no cniVersion"},
		{"config on stdin without command", env("CNI_COMMAND", ""), goodConf, ErrInvalidEnvironment, "CNI_COMMAND is not set"},
		{"own netns", env("CNI_NETNS", own, "CNI_NETNS_OVERRIDE", ""), goodConf, types.ErrInvalidNetNS, "the plugin's own network namespace"},
		{"long container id", env("CNI_CONTAINERID", strings.Repeat("a", MaxContainerID+1)), goodConf, ErrInvalidEnvironment, "longer than"},
		{"oversized config", env(), goodConf + strings.Repeat(" ", MaxConfigSize), ErrIOFailure, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			called := false
			verb := func(*Call) error { called = true; return nil }
			p := Plugin{Name: "x", Funcs: Funcs{Add: verb, Del: verb}}
			var stdout bytes.Buffer
			rc := run(p, func(k string) string { return c.env[k] }, strings.NewReader(c.stdin), &stdout, io.Discard)
			var e types.Error
			if err := json.Unmarshal(stdout.Bytes(), &e); rc != 1 || err != nil {
				t.Fatalf("exit %d, stdout %q", rc, stdout.String())
			}
			if e.Code != c.code || !strings.Contains(e.Msg, c.msg) {
				t.Errorf("got {%d %q}, want code %d with %q", e.Code, e.Msg, c.code, c.msg)
			}
			if called {
				t.Error("the verb ran")
			}
		})
	}
}

// TestDispatchAbout: with no CNI_COMMAND and nothing on stdin, the
// version lines go to stderr and the exit is 0, as with skel.
func TestDispatchAbout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	rc := run(Plugin{Name: "x"}, func(string) string { return "" }, strings.NewReader(""), &stdout, &stderr)
	if rc != 0 || stdout.Len() != 0 || !strings.Contains(stderr.String(), "CNI protocol versions supported: 0.1.0") {
		t.Errorf("exit %d, stdout %q, stderr %q", rc, stdout.String(), stderr.String())
	}
}
