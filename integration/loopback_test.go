package integration

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

const loopbackConfList = `{"cniVersion":"%s","name":"lo-test","plugins":[{"type":"loopback"%s}]}`

func loUp(t *testing.T, pod *testutil.Pod) bool {
	t.Helper()
	out := pod.MustExec(t, "ip", "-o", "link", "show", "lo")
	return strings.Contains(out, ",UP")
}

func TestLoopbackLibcni(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "loopback")
	list := testutil.ConfList(t, sprintf(loopbackConfList, "1.1.0", ""))
	pod := testutil.NewPod(t, "pod")
	pod.MustExec(t, "ip", "link", "set", "lo", "down")
	att := testutil.Attachment{Pod: pod}

	res, err := rt.Add(ctx, list, att)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	r, err := current.GetResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Interfaces) != 1 || r.Interfaces[0].Name != "lo" || r.Interfaces[0].Sandbox != pod.Path {
		t.Fatalf("ADD result interfaces = %+v, want lo in %s", r.Interfaces, pod.Path)
	}
	if len(r.IPs) != 2 || r.IPs[0].Address.String() != "127.0.0.1/8" || r.IPs[1].Address.String() != "::1/128" {
		t.Fatalf("ADD result ips = %v, want 127.0.0.1/8 and ::1/128", r.IPs)
	}
	if !loUp(t, pod) {
		t.Fatal("lo is not up after ADD")
	}
	if err := testutil.Ping(pod.NetNS, "127.0.0.1", 1); err != nil {
		t.Fatalf("ping 127.0.0.1 inside the pod after ADD: %v", err)
	}
	if err := rt.Check(ctx, list, att); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := rt.Status(ctx, list); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if loUp(t, pod) {
		t.Fatal("lo is still up after DEL")
	}
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatalf("second DEL: %v", err)
	}
	pod.Delete(t)
	if err := rt.Del(ctx, list, att); err != nil {
		t.Fatalf("DEL after the netns is gone: %v", err)
	}
	if err := rt.GC(ctx, list); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if left := rt.CachedResults(t); len(left) != 0 {
		t.Fatalf("libcni cache not empty after DEL: %v", left)
	}
}

// TestLoopbackVersions runs ADD with every config version a runtime may
// send and checks the result comes back in that version.
func TestLoopbackVersions(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "loopback")
	for _, v := range []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			list := testutil.ConfList(t, sprintf(loopbackConfList, v, ""))
			pod := testutil.NewPod(t, "pod")
			att := testutil.Attachment{Pod: pod}
			res, err := rt.Add(ctx, list, att)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			if res.Version() != v {
				t.Fatalf("result version %q, want %q", res.Version(), v)
			}
			if !loUp(t, pod) {
				t.Fatal("lo not up")
			}
			if err := rt.Del(ctx, list, att); err != nil {
				t.Fatalf("DEL: %v", err)
			}
		})
	}
}

// TestLoopbackBadInput runs the binary directly with bad input and checks
// exit status, error JSON code and message, and the plain stderr line.
func TestLoopbackBadInput(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	bin := filepath.Join(testutil.BinDir(t, "loopback"), "loopback")
	env := func(cmd, netns string) []string {
		return []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=abc", "CNI_NETNS=" + netns, "CNI_IFNAME=lo", "CNI_PATH=/nonexistent"}
	}
	tests := []struct {
		name    string
		env     []string
		stdin   string
		code    uint
		msgPart string
	}{
		{"malformed JSON", env("ADD", pod.Path), `{"cniVersion":"1.1.0","name":`, 6, "unexpected end of JSON"},
		{"unknown cniVersion", env("ADD", pod.Path), `{"cniVersion":"9.9.9","name":"n","type":"loopback"}`, 1, "incompatible CNI versions"},
		{"missing cniVersion", env("ADD", pod.Path), `{"name":"n","type":"loopback"}`, 1, "no cniVersion"},
		{"missing CNI_NETNS", env("ADD", ""), `{"cniVersion":"1.1.0","name":"n","type":"loopback"}`, 4, "CNI_NETNS"},
		{"netns not a netns", env("ADD", "/etc/hostname"), `{"cniVersion":"1.1.0","name":"n","type":"loopback"}`, 4, "not a network namespace"},
		{"unknown command", env("FROB", pod.Path), `{"cniVersion":"1.1.0","name":"n","type":"loopback"}`, 4, "unknown CNI_COMMAND"},
		{"missing name", env("ADD", pod.Path), `{"cniVersion":"1.1.0","type":"loopback"}`, 7, "missing network name"},
		{"oversized stdin", env("ADD", pod.Path), `{"cniVersion":"1.1.0","name":"n","type":"loopback","pad":"` + strings.Repeat("x", 2<<20) + `"}`, 5, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := node.Links(t)
			run := testutil.ExecPlugin(t, node.NetNS, bin, tt.env, []byte(tt.stdin))
			if run.ExitCode != 1 {
				t.Fatalf("exit %d, want 1; stdout %q stderr %q", run.ExitCode, run.Stdout, run.Stderr)
			}
			e := run.CNIError(t)
			if e.Code != tt.code || !strings.Contains(e.Msg+e.Details, tt.msgPart) {
				t.Fatalf("error {%d %q %q}, want code %d with %q", e.Code, e.Msg, e.Details, tt.code, tt.msgPart)
			}
			if !strings.Contains(run.Stderr, e.Msg) {
				t.Fatalf("stderr %q does not repeat the error %q", run.Stderr, e.Msg)
			}
			if after := node.Links(t); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Fatalf("node links changed: %v -> %v", before, after)
			}
		})
	}
}

// TestLoopbackLogFile checks the logFile/logLevel keys: lines with plugin,
// command and container ID go to the file (0600), and stdout carries only
// the result.
func TestLoopbackLogFile(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	bin := filepath.Join(testutil.BinDir(t, "loopback"), "loopback")
	logFile := filepath.Join(t.TempDir(), "podnet.log")
	conf := sprintf(`{"cniVersion":"1.1.0","name":"n","type":"loopback","logFile":%q,"logLevel":"debug"}`, logFile)
	env := []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=ctr1", "CNI_NETNS=" + pod.Path, "CNI_IFNAME=lo", "CNI_PATH=/x"}
	run := testutil.ExecPlugin(t, node.NetNS, bin, env, []byte(conf))
	if run.ExitCode != 0 {
		t.Fatalf("ADD failed: %s %s", run.Stdout, run.Stderr)
	}
	var r current.Result
	if err := json.Unmarshal([]byte(run.Stdout), &r); err != nil || len(r.Interfaces) != 1 {
		t.Fatalf("stdout is not just the result: %q (%v)", run.Stdout, err)
	}
	if run.Stderr != "" {
		t.Fatalf("stderr not empty on success: %q", run.Stderr)
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"plugin=loopback", "command=ADD", "containerID=ctr1", "ifname=lo", "netns=" + pod.Path, "level=DEBUG"} {
		if !strings.Contains(string(data), want) {
			t.Fatalf("log file lacks %q:\n%s", want, data)
		}
	}
	if st, _ := os.Stat(logFile); st.Mode().Perm() != 0o600 {
		t.Fatalf("log file mode %v, want 0600", st.Mode().Perm())
	}
	// An error is logged at the default level and repeated on stderr.
	conf = sprintf(`{"cniVersion":"1.1.0","name":"n","type":"loopback","logFile":%q}`, logFile)
	env[2] = "CNI_NETNS=/nonexistent/netns"
	run = testutil.ExecPlugin(t, node.NetNS, bin, env, []byte(conf))
	if run.ExitCode != 1 || !strings.Contains(run.Stderr, "/nonexistent/netns") {
		t.Fatalf("want failure naming the netns on stderr, got exit %d stderr %q", run.ExitCode, run.Stderr)
	}
	data, _ = os.ReadFile(logFile)
	if !strings.Contains(string(data), "level=ERROR") || !strings.Contains(string(data), "/nonexistent/netns") {
		t.Fatalf("log file lacks the error:\n%s", data)
	}
}

// TestLoopbackCNITool drives the plugin by hand as an operator would.
func TestLoopbackCNITool(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	pod.MustExec(t, "ip", "link", "set", "lo", "down")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "99-lo.conflist"), []byte(sprintf(loopbackConfList, "1.1.0", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	tool := testutil.NewCNITool(t, node, dir, "loopback")
	out, err := tool.Run(nil, "add", "lo-test", pod.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `"name": "lo"`) {
		t.Fatalf("cnitool add output lacks lo: %s", out)
	}
	if !loUp(t, pod) {
		t.Fatal("lo not up after cnitool add")
	}
	for _, verb := range []string{"check", "status"} {
		if _, err := tool.Run(nil, verb, "lo-test", pod.Path); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tool.Run(nil, "del", "lo-test", pod.Path); err != nil {
		t.Fatal(err)
	}
	if loUp(t, pod) {
		t.Fatal("lo still up after cnitool del")
	}
	if left := tool.CachedResults(t); len(left) != 0 {
		t.Fatalf("cnitool cache not empty after del: %v", left)
	}
}

// TestOwnNetNSRefusedBeforeWork checks that ADD with CNI_NETNS naming the
// plugin's own namespace fails with code 8 before anything is changed: the
// node's lo stays down.
func TestOwnNetNSRefusedBeforeWork(t *testing.T) {
	node := testutil.NewNode(t, "node")
	node.MustExec(t, "ip", "link", "set", "lo", "down")
	bin := filepath.Join(testutil.BinDir(t, "loopback"), "loopback")
	env := []string{"CNI_COMMAND=ADD", "CNI_CONTAINERID=abc", "CNI_NETNS=" + node.Path, "CNI_IFNAME=lo", "CNI_PATH=/x"}
	run := testutil.ExecPlugin(t, node.NetNS, bin, env, []byte(`{"cniVersion":"1.1.0","name":"n","type":"loopback"}`))
	if e := run.CNIError(t); run.ExitCode != 1 || e.Code != 8 || !strings.Contains(e.Msg, "own network namespace") {
		t.Fatalf("exit %d, error %+v; want code 8 about the plugin's own namespace", run.ExitCode, e)
	}
	if out := node.MustExec(t, "ip", "-o", "link", "show", "lo"); strings.Contains(out, ",UP") {
		t.Fatalf("lo of the node was brought up before the refusal: %s", out)
	}
}
