package linkdel

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/testutil"
)

// TestMain lets the test binary serve as its own helper, as a plugin does.
func TestMain(m *testing.M) {
	ServeHelper()
	os.Exit(m.Run())
}

// nodeAndPod makes a node and a pod namespace for one test.
func nodeAndPod(t *testing.T) (*testutil.NetNS, ns.NetNS) {
	t.Helper()
	node := testutil.NewNetNS(t, "node")
	podNS := testutil.NewNetNS(t, "pod")
	pod, err := ns.GetNS(podNS.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pod.Close() })
	return node, pod
}

// pair makes a veth pair: name in the node, eth0 in the pod.
func pair(t *testing.T, node *testutil.NetNS, pod ns.NetNS, name string) netlink.Link {
	t.Helper()
	var l netlink.Link
	err := node.Do(func() error {
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(pod.Fd()))}
		if err := netlink.LinkAdd(v); err != nil {
			return err
		}
		var err error
		l, err = netlink.LinkByName(name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func podHasEth0(t *testing.T, pod ns.NetNS) bool {
	t.Helper()
	found := false
	_ = pod.Do(func(ns.NetNS) error {
		_, err := netlink.LinkByName("eth0")
		found = err == nil
		return nil
	})
	return found
}

// helperRunning reports whether a helper process for name is alive.
func helperRunning(name string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) >= 4 && args[1] == helperArg && args[3] == name {
			if st, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				return true
			}
		}
	}
	return false
}

func TestPrivilegedDeleteDetached(t *testing.T) {
	node, pod := nodeAndPod(t)
	for i, exe := range map[string]string{"helper": "/proc/self/exe", "failing helper": "/bin/false", "missing helper": "/nonexistent"} {
		t.Run(i, func(t *testing.T) {
			defer func(old string) { helperExe = old }(helperExe)
			helperExe = exe
			l := pair(t, node, pod, "pnt-ld0")
			before := fallbacks.Load()
			err := node.Do(func() error { return Delete(l) })
			if fellBack := fallbacks.Load() != before; fellBack != (exe != "/proc/self/exe") {
				t.Errorf("fell back to a synchronous delete: %v", fellBack)
			}
			if err != nil {
				t.Fatalf("Delete: %v", err)
			}
			_ = node.Do(func() error {
				if _, err := netlink.LinkByName("pnt-ld0"); err == nil {
					t.Error("the node end is still listed after Delete returned")
				}
				return nil
			})
			if podHasEth0(t, pod) {
				t.Error("the pod end is still listed after Delete returned")
			}
			// The helper finishes the kernel's teardown and exits.
			deadline := time.Now().Add(5 * time.Second)
			for helperRunning("pnt-ld0") {
				if time.Now().After(deadline) {
					t.Fatal("the helper is still running after 5 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestPrivilegedDeleteGone(t *testing.T) {
	node, pod := nodeAndPod(t)
	l := pair(t, node, pod, "pnt-ld1")
	err := node.Do(func() error {
		if err := netlink.LinkDel(l); err != nil {
			return err
		}
		return Delete(l) // already gone: not an error
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The helper refuses an index that now names another link.
func TestPrivilegedHelperChecksName(t *testing.T) {
	node, pod := nodeAndPod(t)
	l := pair(t, node, pod, "pnt-ld2")
	_ = node.Do(func() error {
		if got := runHelper(itoa(l.Attrs().Index), "other"); got != 0 {
			t.Errorf("helper exit %d for a renamed link, want 0", got)
		}
		if _, err := netlink.LinkByName("pnt-ld2"); err != nil {
			t.Error("the helper deleted a link whose name did not match")
		}
		if got := runHelper("x", "pnt-ld2"); got != 2 {
			t.Errorf("helper exit %d for a bad index, want 2", got)
		}
		return nil
	})
}

// A helper whose parent stops waiting for it (a DEL killed right after
// starting it) still deletes the link.
func TestPrivilegedHelperOutlivesParent(t *testing.T) {
	node, pod := nodeAndPod(t)
	l := pair(t, node, pod, "pnt-ld3")
	err := node.Do(func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		p, err := startHelper(l.Attrs().Index, l.Attrs().Name)
		if err != nil {
			return err
		}
		return p.Release() // nobody waits for it
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for podHasEth0(t, pod) {
		if time.Now().After(deadline) {
			t.Fatal("the pair is still there 5 s after the helper started")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
