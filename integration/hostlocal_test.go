package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

// hlList loads testdata/hostlocal/<name>.conflist for a version and
// a dataDir.
func hlList(t *testing.T, name, version, dataDir string) (*libcni.NetworkConfigList, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hostlocal", name+".conflist"))
	if err != nil {
		t.Fatal(err)
	}
	text := sprintf(string(b), version, dataDir)
	return testutil.ConfList(t, text), text
}

// hlDirEntries lists <dataDir>/hl-test, with .podnet's index and tmp
// contents, as sorted relative paths.
func hlDirEntries(t *testing.T, dataDir string) []string {
	t.Helper()
	root := filepath.Join(dataDir, "hl-test")
	var out []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel != "." && !d.IsDir() {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// hlReservations are the entries of the store that hold an address: not the
// lock, the cursors, or podnet's stamp.
func hlReservations(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	for _, e := range hlDirEntries(t, dataDir) {
		if e == "lock" || strings.HasPrefix(e, "last_reserved_ip.") || e == ".podnet/stamp" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// hlPod is an attachment whose pod shares netns with others: IPAM never
// enters it. netns must not be the node's (skel refuses that after ADD).
func hlPod(netns *testutil.NetNS, i int) testutil.Attachment {
	return testutil.Attachment{Pod: &testutil.Pod{NetNS: netns, ContainerID: fmt.Sprintf("hl%04d%s", i, strings.Repeat("a", 58))}}
}

func TestHostLocalLibcni(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "host-local")
	list, _ := hlList(t, "dualstack", "1.1.0", node.Dir)
	pod := testutil.NewPod(t, "pod")
	a := testutil.Attachment{Pod: pod}

	res, err := rt.Add(ctx, list, a)
	if err != nil {
		t.Fatalf("ADD: %v", err)
	}
	r, err := current.GetResult(res)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Interfaces) != 0 || len(r.IPs) != 2 || r.IPs[0].Address.String() != "10.66.0.10/24" || r.IPs[0].Gateway.String() != "10.66.0.1" ||
		r.IPs[1].Address.String() != "fd66::2/64" || len(r.Routes) != 2 || r.Routes[0].MTU != 1400 {
		t.Fatalf("ADD result: %s", res)
	}
	if err := rt.Check(ctx, list, a); err != nil {
		t.Fatalf("CHECK: %v", err)
	}
	if err := rt.Status(ctx, list); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	// A second attachment asks for fixed addresses through the ips capability.
	b := testutil.Attachment{Pod: pod, IfName: "net1", Caps: map[string]any{"ips": []string{"10.66.0.77/24", "fd66::77/64"}}}
	res, err = rt.Add(ctx, list, b)
	if err != nil {
		t.Fatalf("ADD with ips capability: %v", err)
	}
	if r, _ := current.GetResult(res); r.IPs[0].Address.IP.String() != "10.66.0.77" || r.IPs[1].Address.IP.String() != "fd66::77" {
		t.Fatalf("requested IPs not honoured: %s", res)
	}
	// And one gets its range from the ipRanges capability.
	c := testutil.Attachment{Pod: pod, IfName: "net2", Caps: map[string]any{"ipRanges": [][]map[string]string{{{"subnet": "10.67.0.0/30"}}}}}
	res, err = rt.Add(ctx, list, c)
	if err != nil {
		t.Fatalf("ADD with ipRanges capability: %v", err)
	}
	if r, _ := current.GetResult(res); len(r.IPs) != 3 || r.IPs[0].Address.String() != "10.67.0.2/30" {
		t.Fatalf("ipRanges not prepended: %s", res)
	}
	for _, x := range []testutil.Attachment{a, b, c, a} {
		if err := rt.Del(ctx, list, x); err != nil {
			t.Fatalf("DEL: %v", err)
		}
	}
	if left := hlReservations(t, node.Dir); len(left) != 0 {
		t.Fatalf("reservations left after DEL: %v", left)
	}
	pod.Delete(t)
	if err := rt.Del(ctx, list, a); err != nil {
		t.Fatalf("DEL after the netns is gone: %v", err)
	}
}

// TestHostLocalVersions runs ADD at every config version; the result comes
// back in that version (at 0.1.0/0.2.0 one address per family).
func TestHostLocalVersions(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "host-local")
	podNS := testutil.NewNetNS(t, "pods")
	for i, v := range []string{"0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(v, func(t *testing.T) {
			list, _ := hlList(t, "dualstack", v, node.Dir)
			a := hlPod(podNS, i)
			res, err := rt.Add(ctx, list, a)
			if err != nil {
				t.Fatalf("ADD: %v", err)
			}
			if res.Version() != v {
				t.Fatalf("result version %q, want %q", res.Version(), v)
			}
			if err := rt.Del(ctx, list, a); err != nil {
				t.Fatalf("DEL: %v", err)
			}
		})
	}
	if left := hlReservations(t, node.Dir); len(left) != 0 {
		t.Fatalf("reservations left: %v", left)
	}
}

// TestHostLocalConcurrentAdd runs 50 ADDs on one network at once: every one
// succeeds and every address is distinct.
func TestHostLocalConcurrentAdd(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "host-local")
	list, _ := hlList(t, "dualstack", "1.1.0", node.Dir)
	podNS := testutil.NewNetNS(t, "pods")
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]int{}
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			res, err := rt.Add(ctx, list, hlPod(podNS, i))
			if err != nil {
				errs <- fmt.Errorf("ADD %d: %w", i, err)
				return
			}
			r, err := current.GetResult(res)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, ip := range r.IPs {
				seen[ip.Address.IP.String()]++
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != 2*n {
		t.Fatalf("%d distinct addresses for %d dual-stack ADDs: %v", len(seen), n, seen)
	}
	if got := len(hlReservations(t, node.Dir)); got != 2*n+1 { // per-IP files + the index table
		t.Fatalf("%d store entries, want %d: %v", got, 2*n+1, hlReservations(t, node.Dir))
	}
}

// TestHostLocalChurn adds and deletes attachments in random order; at the
// end the store holds no reservation and no index entry.
func TestHostLocalChurn(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "host-local")
	list, _ := hlList(t, "dualstack", "1.1.0", node.Dir)
	podNS := testutil.NewNetNS(t, "pods")
	rng := rand.New(rand.NewPCG(1, 2))
	live := map[int]bool{}
	for step := 0; step < 150; step++ {
		i := rng.IntN(20)
		a := hlPod(podNS, i)
		if live[i] {
			if err := rt.Del(ctx, list, a); err != nil {
				t.Fatalf("step %d DEL %d: %v", step, i, err)
			}
			delete(live, i)
			continue
		}
		if _, err := rt.Add(ctx, list, a); err != nil {
			t.Fatalf("step %d ADD %d: %v", step, i, err)
		}
		live[i] = true
	}
	for i := range live {
		if err := rt.Del(ctx, list, hlPod(podNS, i)); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(hlDirEntries(t, node.Dir), " ")
	if got != ".podnet/stamp last_reserved_ip.0 last_reserved_ip.1 lock" {
		t.Fatalf("store after churn: %s", got)
	}
}

// hlStart starts the binary with the node as current namespace.
func hlStart(t *testing.T, node *testutil.Node, bin string, env []string, stdin string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	if err := node.Do(cmd.Start); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	return cmd
}

func hlEnv(cmd, cid, ifname string) []string {
	return []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + cid, "CNI_NETNS=/nonexistent", "CNI_IFNAME=" + ifname, "CNI_PATH=/nonexistent"}
}

// hlPluginConf is the single-plugin config libcni would send for the list.
func hlPluginConf(t *testing.T, version, dataDir string) string {
	t.Helper()
	_, text := hlList(t, "dualstack", version, dataDir)
	l, err := libcni.ConfListFromBytes([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	conf, err := libcni.InjectConf(l.Plugins[0], map[string]any{"name": l.Name, "cniVersion": l.CNIVersion})
	if err != nil {
		t.Fatal(err)
	}
	return string(conf.Bytes)
}

// TestHostLocalCrash kills the plugin at random instants during ADD, then
// shows every reservation left is complete, that the next ADDs still
// succeed, and that DEL (for half) and GC (for the rest) leave nothing.
func TestHostLocalCrash(t *testing.T) {
	node := testutil.NewNode(t, "node")
	bin := filepath.Join(testutil.BinDir(t, "host-local"), "host-local")
	stdin := hlPluginConf(t, "1.1.0", node.Dir)
	rng := rand.New(rand.NewPCG(3, 4))
	// The kills land anywhere in an ADD, process start included: their
	// delays spread over how long a whole ADD takes on this machine now
	// (2-4 ms on a quiet one, more under load).
	span := hlAddSpan(t, node, bin, stdin)
	// At least 60 ADDs, and on until enough were killed mid-run, some of
	// them after reserving, or 300 were tried.
	var n, killed, partial int
	for n = 0; n < 60 || (killed < n/4 || partial < 3) && n < 300; n++ {
		cmd := hlStart(t, node, bin, hlEnv("ADD", fmt.Sprintf("crash%d", n), "eth0"), stdin)
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			killed++
			if hlHeldBy(t, node.Dir, fmt.Sprintf("crash%d", n)) > 0 {
				partial++
			}
		}
	}
	t.Logf("%d of %d ADDs were killed while running, %d of them after reserving (kills within %v)", killed, n, partial, span)
	if killed < n/4 || partial == 0 {
		t.Fatalf("only %d of %d ADDs killed mid-run (%d after reserving): the test did not exercise crashes", killed, n, partial)
	}
	// Every reservation file is complete: "<cid>\r\neth0".
	dir := filepath.Join(node.Dir, "hl-test")
	for _, e := range hlReservations(t, node.Dir) {
		if strings.HasPrefix(e, ".podnet/") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "crash") || !strings.HasSuffix(string(b), "\r\neth0") {
			t.Fatalf("torn reservation %s: %q", e, b)
		}
	}
	// The store still serves ADD.
	ok := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("ADD", "after", "eth0"), []byte(stdin))
	if ok.ExitCode != 0 {
		t.Fatalf("ADD after the crashes: %s %s", ok.Stdout, ok.Stderr)
	}
	// DEL for the first half, GC keeping only "after" for the rest.
	for i := 0; i < n/2; i++ {
		run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("DEL", fmt.Sprintf("crash%d", i), "eth0"), []byte(stdin))
		if run.ExitCode != 0 {
			t.Fatalf("DEL crash%d: %s", i, run.Stdout)
		}
	}
	for _, e := range hlReservations(t, node.Dir) {
		if b, _ := os.ReadFile(filepath.Join(dir, e)); strings.HasPrefix(string(b), "crash") {
			var id int
			fmt.Sscanf(string(b), "crash%d", &id)
			if id < n/2 {
				t.Fatalf("DEL left %s for crash%d", e, id)
			}
		}
	}
	gcConf := strings.TrimSuffix(strings.TrimSpace(stdin), "}") + `,"cni.dev/valid-attachments":[{"containerID":"after","ifname":"eth0"}]}`
	if run := testutil.ExecPlugin(t, node.NetNS, bin, []string{"CNI_COMMAND=GC", "CNI_PATH=/nonexistent"}, []byte(gcConf)); run.ExitCode != 0 {
		t.Fatalf("GC: %s %s", run.Stdout, run.Stderr)
	}
	left := hlReservations(t, node.Dir)
	if len(left) != 3 { // after's two addresses and the index table
		t.Fatalf("after DEL and GC: %v", left)
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, ".podnet", "tmp")); len(tmp) != 0 {
		t.Fatalf("temp files left: %v", tmp)
	}
}

// hlAddSpan returns the median time of 5 whole ADDs (start to exit),
// released again by DEL.
func hlAddSpan(t *testing.T, node *testutil.Node, bin, stdin string) time.Duration {
	t.Helper()
	var d []time.Duration
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("span%d", i)
		t0 := time.Now()
		if err := hlStart(t, node, bin, hlEnv("ADD", id, "eth0"), stdin).Wait(); err != nil {
			t.Fatalf("ADD %s: %v", id, err)
		}
		d = append(d, time.Since(t0))
		if run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("DEL", id, "eth0"), []byte(stdin)); run.ExitCode != 0 {
			t.Fatalf("DEL %s: %s", id, run.Stdout)
		}
	}
	slices.Sort(d)
	return d[len(d)/2]
}

// hlHeldBy counts the reservation files naming container cid.
func hlHeldBy(t *testing.T, dataDir, cid string) int {
	t.Helper()
	n := 0
	for _, e := range hlReservations(t, dataDir) {
		b, _ := os.ReadFile(filepath.Join(dataDir, "hl-test", e))
		if !strings.HasPrefix(e, ".podnet/") && strings.HasPrefix(string(b), cid+"\r\n") {
			n++
		}
	}
	return n
}

// TestHostLocalGC leaks reservations (ADD with no runtime cache, as after a
// crash of the runtime) and lets libcni's GC reclaim them through the
// plugin, keeping the valid attachment.
func TestHostLocalGC(t *testing.T) {
	ctx := context.Background()
	node := testutil.NewNode(t, "node")
	rt := testutil.NewRuntime(t, node, "host-local")
	list, _ := hlList(t, "dualstack", "1.1.0", node.Dir)
	bin := filepath.Join(rt.BinDir, "host-local")
	stdin := hlPluginConf(t, "1.1.0", node.Dir)
	for i := 0; i < 3; i++ {
		if run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("ADD", fmt.Sprintf("leak%d", i), "eth0"), []byte(stdin)); run.ExitCode != 0 {
			t.Fatalf("ADD leak%d: %s", i, run.Stdout)
		}
	}
	keep := hlPod(testutil.NewNetNS(t, "pods"), 1)
	if _, err := rt.Add(ctx, list, keep); err != nil {
		t.Fatal(err)
	}
	if err := rt.GC(ctx, list, keep); err != nil {
		t.Fatalf("GC: %v", err)
	}
	left := hlReservations(t, node.Dir)
	if len(left) != 3 {
		t.Fatalf("after GC: %v (want the kept attachment's two addresses and index entry)", left)
	}
	if err := rt.Check(ctx, list, keep); err != nil {
		t.Fatalf("CHECK of the kept attachment after GC: %v", err)
	}
	// GC without any attachment list is refused rather than emptying the pool.
	run := testutil.ExecPlugin(t, node.NetNS, bin, []string{"CNI_COMMAND=GC", "CNI_PATH=/nonexistent"}, []byte(stdin))
	if e := run.CNIError(t); e.Code != 7 || !strings.Contains(e.Msg, "cni.dev/valid-attachments") {
		t.Fatalf("GC without a list: %+v", e)
	}
}

// TestHostLocalStatus: ok, then code 50 for an exhausted range set and for
// a dataDir that cannot be written.
func TestHostLocalStatus(t *testing.T) {
	node := testutil.NewNode(t, "node")
	bin := filepath.Join(testutil.BinDir(t, "host-local"), "host-local")
	conf := func(dataDir string) []byte {
		return []byte(sprintf(`{"cniVersion":"1.1.0","name":"hl-test","type":"host-local","ipam":{"type":"host-local","dataDir":%q,`+
			`"ranges":[[{"subnet":"10.68.0.0/30"}],[{"subnet":"fd68::/64"}]]}}`, dataDir))
	}
	env := []string{"CNI_COMMAND=STATUS", "CNI_PATH=/nonexistent"}
	if run := testutil.ExecPlugin(t, node.NetNS, bin, env, conf(node.Dir)); run.ExitCode != 0 {
		t.Fatalf("STATUS on an empty pool: %s", run.Stdout)
	}
	if run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("ADD", "c1", "eth0"), conf(node.Dir)); run.ExitCode != 0 {
		t.Fatalf("ADD: %s", run.Stdout)
	}
	e := testutil.ExecPlugin(t, node.NetNS, bin, env, conf(node.Dir)).CNIError(t)
	if e.Code != 50 || !strings.Contains(e.Msg, "range set 0 (10.68.0.1-10.68.0.2): 1 of 1 addresses reserved") {
		t.Fatalf("STATUS exhausted: %+v", e)
	}
	// The next ADD fails at once, naming the range set, and takes nothing.
	run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("ADD", "c2", "eth0"), conf(node.Dir))
	if e := run.CNIError(t); !strings.Contains(e.Msg, "no IP addresses available in range set: 10.68.0.1-10.68.0.2") {
		t.Fatalf("ADD on exhausted set: %+v", e)
	}
	if left := hlReservations(t, node.Dir); len(left) != 3 {
		t.Fatalf("failed ADD changed the store: %v", left)
	}
	// dataDir below a regular file cannot be created.
	file := filepath.Join(node.Dir, "afile")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	e = testutil.ExecPlugin(t, node.NetNS, bin, env, conf(filepath.Join(file, "data"))).CNIError(t)
	if e.Code != 50 || !strings.Contains(e.Msg, "not a directory") {
		t.Fatalf("STATUS with an impossible dataDir: %+v", e)
	}
	// A read-only dataDir, in a private mount namespace so the host's mounts
	// are untouched.
	ro := filepath.Join(node.Dir, "ro")
	if run := testutil.ExecPlugin(t, node.NetNS, bin, hlEnv("ADD", "c3", "eth0"), conf(ro)); run.ExitCode != 0 {
		t.Fatalf("ADD: %s", run.Stdout)
	}
	script := sprintf("mount --bind %s %s && mount -o remount,bind,ro %s && exec %s", ro, ro, ro, bin)
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(string(conf(ro)))
	out, _ := cmd.Output()
	if !strings.Contains(string(out), `"code": 50`) || !strings.Contains(string(out), "read-only file system") {
		t.Fatalf("STATUS on a read-only dataDir: %s", out)
	}
}

// TestHostLocalBadInput: errors a runtime sees are CNI error JSON with the
// right code and a message naming the field and value; nothing is written.
func TestHostLocalBadInput(t *testing.T) {
	node := testutil.NewNode(t, "node")
	bin := filepath.Join(testutil.BinDir(t, "host-local"), "host-local")
	ipam := func(body string) string {
		return sprintf(`{"cniVersion":"1.1.0","name":"hl-test","type":"host-local","ipam":{"type":"host-local","dataDir":%q,%s}}`, node.Dir, body)
	}
	tests := []struct {
		name  string
		env   []string
		stdin string
		code  uint
		msg   string
	}{
		{"host bits", hlEnv("ADD", "c1", "eth0"), ipam(`"subnet":"10.1.0.1/24"`), 7, `subnet "10.1.0.1/24": network has host bits set`},
		{"too small", hlEnv("ADD", "c1", "eth0"), ipam(`"ranges":[[{"subnet":"fd00::/127"}]]`), 7, "too small"},
		{"no ranges", hlEnv("ADD", "c1", "eth0"), ipam(`"routes":[]`), 7, "no IP ranges specified"},
		{"gateway requested", hlEnv("ADD", "c1", "eth0"), ipam(`"subnet":"10.1.0.0/24"`), 7, "requested IP 10.1.0.1 is the gateway"},
		{"unknown CNI_ARGS", append(hlEnv("ADD", "c1", "eth0"), "CNI_ARGS=K8S_POD_NAME=x"), ipam(`"subnet":"10.1.0.0/24"`), 4, "unknown args"},
		{"bad ifname", hlEnv("ADD", "c1", "e/0"), ipam(`"subnet":"10.1.0.0/24"`), 4, "interface name"},
		{"traversal in name", hlEnv("ADD", "c1", "eth0"), strings.Replace(ipam(`"subnet":"10.1.0.0/24"`), `"hl-test"`, `"../x"`, 1), 0, "../x"},
		{"traversal in container ID", hlEnv("DEL", "../../x", "eth0"), ipam(`"subnet":"10.1.0.0/24"`), 0, "../../x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env
			if tt.name == "gateway requested" {
				env = append(env, "CNI_ARGS=IP=10.1.0.1")
			}
			run := testutil.ExecPlugin(t, node.NetNS, bin, env, []byte(tt.stdin))
			if run.ExitCode != 1 {
				t.Fatalf("exit %d: %s", run.ExitCode, run.Stdout)
			}
			e := run.CNIError(t)
			if (tt.code != 0 && e.Code != tt.code) || !strings.Contains(e.Msg+e.Details, tt.msg) {
				t.Fatalf("error {%d %q %q}, want code %d with %q", e.Code, e.Msg, e.Details, tt.code, tt.msg)
			}
		})
	}
	entries, _ := os.ReadDir(node.Dir)
	for _, e := range entries {
		if e.Name() == "hl-test" {
			if left := hlReservations(t, node.Dir); len(left) != 0 {
				t.Fatalf("refused ADDs reserved %v", left)
			}
			continue
		}
		t.Fatalf("unexpected entry in dataDir: %s", e.Name())
	}
}
