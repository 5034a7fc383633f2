package integration

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/testutil"
)

// The torture tests drive bridge + host-local + portmap through libcni with
// random concurrency and SIGKILL plugin processes mid-ADD, then let the
// runtime recover (DEL of every failed attempt, GC with the live list) and
// check that no address is ever held twice and that, once every pod is
// gone, the node is back to its state before the first ADD.
//
// PODNET_TORTURE_CYCLES sets the number of ADD/DEL cycles (default 40, the
// shortened run of `make test`; the full run is 500), PODNET_TORTURE_SEED
// the random seed (default: the clock, logged).

const (
	tortureNet    = "torture"
	tortureBridge = "cni-tort0"
	// tortureKillPct is the share of ADDs during which a plugin process is
	// SIGKILLed.
	tortureKillPct = 10
	// tortureMaxKillDelay bounds the random instant of the kill: ADD of
	// bridge or portmap takes a few to a few tens of milliseconds here.
	tortureMaxKillDelay = 40 * time.Millisecond
)

// tortureRun is the state of one torture test.
type tortureRun struct {
	t       *testing.T
	rng     *rand.Rand
	node    *testutil.Node
	dataDir string
	rt      *testutil.Runtime
	shims   *testutil.KillerShims
	list    *libcni.NetworkConfigList
	// live are the attachments whose ADD succeeded and that were not
	// deleted, with their addresses.
	live map[string]*torturePod
	// stats
	adds, addFailures, dels, gcs, killRequests int
	nextPort                                   int
}

type torturePod struct {
	att testutil.Attachment
	ips []string
}

func tortureCycles(t *testing.T) int {
	if s := os.Getenv("PODNET_TORTURE_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PODNET_TORTURE_CYCLES=%q: want a positive number", s)
		}
		return n
	}
	return 40
}

func newTortureRun(t *testing.T) *tortureRun {
	seed := time.Now().UnixNano()
	if s := os.Getenv("PODNET_TORTURE_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (PODNET_TORTURE_SEED=%d reproduces the schedule)", seed, seed)
	node := testutil.NewNode(t, "node")
	shims := testutil.NewKillerShims(t, "bridge", "host-local", "portmap")
	cache := filepath.Join(t.TempDir(), "cni-cache")
	r := &tortureRun{
		t: t, rng: rand.New(rand.NewSource(seed)), node: node, dataDir: filepath.Join(node.Dir, "ipam"),
		rt:    &testutil.Runtime{Node: node, CNI: libcni.NewCNIConfigWithCacheDir([]string{shims.Dir}, cache, nil), CacheDir: cache, BinDir: shims.Dir},
		shims: shims, live: map[string]*torturePod{}, nextPort: 20000,
	}
	r.list = testutil.ConfList(t, sprintf(`{
	  "cniVersion": "1.1.0", "name": %q,
	  "plugins": [
	    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
	     "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": "10.77.0.0/24"}]]}},
	    {"type": "portmap", "capabilities": {"portMappings": true}}
	  ]}`, tortureNet, tortureBridge, r.dataDir))
	return r
}

// pristine is what the node must look like with no pod: its links other
// than the network's bridge (a node-level device DEL and GC leave for the
// next pod), its netfilter state, and host-local's bookkeeping files only.
func (r *tortureRun) pristine() string {
	t := r.t
	var links []string
	for _, l := range r.node.Links(t) {
		if !strings.HasPrefix(l, tortureBridge+" ") {
			links = append(links, l)
		}
	}
	var files []string
	for _, f := range testutil.Files(t, r.dataDir) {
		base := strings.TrimPrefix(f, tortureNet+"/")
		if base == "lock" || strings.HasPrefix(base, "last_reserved_ip.") || base == ".podnet/stamp" {
			continue
		}
		files = append(files, f)
	}
	return "links:\n" + strings.Join(links, "\n") + "\nfiles:\n" + strings.Join(files, "\n") +
		"\ncache:\n" + strings.Join(r.rt.CachedResults(t), "\n") + "\nnetfilter:\n" + r.node.Netfilter(t)
}

// attempt runs ADD for a new pod, with a kill requested at random.
func (r *tortureRun) attempt(ctx context.Context, pod *testutil.Pod, port int, kill string) (*torturePod, error) {
	att := testutil.Attachment{Pod: pod, IfName: "eth0",
		Caps: map[string]any{"portMappings": []map[string]any{{"hostPort": port, "containerPort": 80, "protocol": "tcp"}}}}
	if kill != "" {
		att.Args = [][2]string{{testutil.KillArg, kill}}
	}
	res, err := r.rt.Add(ctx, r.list, att)
	if err != nil {
		return &torturePod{att: att}, err
	}
	cur, err := current.GetResult(res)
	if err != nil {
		return nil, err
	}
	p := &torturePod{att: att}
	for _, ip := range cur.IPs {
		p.ips = append(p.ips, ip.Address.IP.String())
	}
	return p, nil
}

// killPlan picks, for tortureKillPct of ADDs, a plugin and an instant.
func (r *tortureRun) killPlan() string {
	if r.rng.Intn(100) >= tortureKillPct {
		return ""
	}
	r.killRequests++
	plugin := []string{"bridge", "portmap"}[r.rng.Intn(2)]
	return fmt.Sprintf("%s@%d", plugin, r.rng.Int63n(int64(tortureMaxKillDelay/time.Microsecond)))
}

// round creates k pods and ADDs them concurrently. It returns the failed
// attempts, which the runtime must DEL.
func (r *tortureRun) round(ctx context.Context, k int) []*torturePod {
	t := r.t
	type job struct {
		pod  *testutil.Pod
		port int
		kill string
	}
	jobs := make([]job, k)
	for i := range jobs {
		r.nextPort++
		jobs[i] = job{testutil.NewPod(t, "tp"), r.nextPort, r.killPlan()}
	}
	results := make([]*torturePod, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = r.attempt(ctx, j.pod, j.port, j.kill)
		}()
	}
	wg.Wait()
	var failed []*torturePod
	for i, p := range results {
		r.adds++
		if errs[i] != nil {
			r.addFailures++
			if jobs[i].kill == "" || !r.shims.KilledIn(t, jobs[i].pod.ContainerID) {
				t.Errorf("ADD of %s failed with no plugin killed: %v", jobs[i].pod.Name, errs[i])
			}
			failed = append(failed, p)
			continue
		}
		r.live[p.att.Pod.ContainerID] = p
	}
	r.checkNoDuplicate()
	return failed
}

// checkNoDuplicate fails when two live pods hold one address.
func (r *tortureRun) checkNoDuplicate() {
	owner := map[string]string{}
	for id, p := range r.live {
		for _, ip := range p.ips {
			if o, dup := owner[ip]; dup {
				r.t.Fatalf("address %s handed to two live pods: %s and %s", ip, o, id)
			}
			owner[ip] = id
		}
	}
}

// del runs the runtime's DEL, which must succeed, and removes the pod's
// namespace.
func (r *tortureRun) del(ctx context.Context, p *torturePod) {
	r.dels++
	if err := r.rt.Del(ctx, r.list, p.att); err != nil {
		r.t.Fatalf("DEL of %s: %v", p.att.Pod.Name, err)
	}
	delete(r.live, p.att.Pod.ContainerID)
	p.att.Pod.Delete(r.t)
}

// gc runs libcni GC with the live attachments and checks that host-local
// holds exactly the live pods' addresses.
func (r *tortureRun) gc(ctx context.Context) {
	t := r.t
	r.gcs++
	var valid []testutil.Attachment
	want := []string{}
	for _, p := range r.live {
		valid = append(valid, p.att)
		want = append(want, p.ips...)
	}
	if err := r.rt.GC(ctx, r.list, valid...); err != nil {
		t.Fatalf("GC with %d live attachments: %v", len(valid), err)
	}
	got := reservations(t, r.dataDir, tortureNet)
	if got == nil {
		got = []string{}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("after GC host-local holds %v, the live pods hold %v", got, want)
	}
}

// checkPodAddresses verifies in the kernel that each live pod's eth0 has
// the address its result reported.
func (r *tortureRun) checkPodAddresses() {
	for _, p := range r.live {
		addrs := strings.Join(p.att.Pod.Addrs(r.t), "\n")
		for _, ip := range p.ips {
			if !strings.Contains(addrs, "eth0 inet "+ip+"/") {
				r.t.Fatalf("pod %s: eth0 lacks its address %s:\n%s", p.att.Pod.Name, ip, addrs)
			}
		}
	}
}

func (r *tortureRun) report(cycles int) {
	kills := r.shims.Kills(r.t)
	r.t.Logf("cycles %d: ADDs %d (failed %d), DELs %d, GCs %d, kills requested %d, plugin processes killed %d, leaks found 0",
		cycles, r.adds, r.addFailures, r.dels, r.gcs, r.killRequests, len(kills))
}

// TestTortureChurn: ADD/DEL cycles at random concurrency (1-20) with 10% of
// ADDs losing a plugin process to SIGKILL at a random instant; after each
// round the runtime DELs the failed attempts and about half the live pods,
// then GCs with the survivors, and host-local must hold exactly the live
// pods' addresses; at the end every pod is deleted, GC runs with an empty
// list, and the node equals its pristine state.
func TestTortureChurn(t *testing.T) {
	ctx := context.Background()
	r := newTortureRun(t)
	cycles := tortureCycles(t)
	before := r.pristine()
	for done := 0; done < cycles; {
		k := min(1+r.rng.Intn(20), cycles-done)
		failed := r.round(ctx, k)
		done += k
		for _, p := range failed {
			r.del(ctx, p)
		}
		for _, p := range r.live {
			if r.rng.Intn(2) == 0 || len(r.live) > 60 {
				r.del(ctx, p)
			}
		}
		r.gc(ctx)
	}
	r.checkPodAddresses()
	for _, p := range r.live {
		r.del(ctx, p)
	}
	r.gc(ctx)
	if after := r.pristine(); after != before {
		t.Fatalf("node after every pod is gone differs from before the first ADD:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if v := vethsOn(t, r.node.NetNS); len(v) != 0 {
		t.Fatalf("veths left: %v", v)
	}
	r.report(cycles)
}

// TestTortureReboot: pods are added (with kills), then every pod namespace
// vanishes without a DEL, as in a node reboot; GC with an empty list must
// return the node to its pristine state.
func TestTortureReboot(t *testing.T) {
	ctx := context.Background()
	r := newTortureRun(t)
	before := r.pristine()
	cycles := min(tortureCycles(t), 60)
	var all []*torturePod
	for done := 0; done < cycles; {
		k := min(1+r.rng.Intn(20), cycles-done)
		all = append(all, r.round(ctx, k)...)
		done += k
	}
	for _, p := range r.live {
		all = append(all, p)
	}
	for _, p := range all {
		p.att.Pod.Delete(t)
	}
	r.live = map[string]*torturePod{}
	r.gc(ctx)
	if after := r.pristine(); after != before {
		t.Fatalf("node after the reboot and GC differs from before the first ADD:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r.report(cycles)
}
