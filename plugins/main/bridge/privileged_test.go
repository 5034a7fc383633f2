package main

import (
	"errors"
	"fmt"
	current "github.com/containernetworking/cni/pkg/types/100"
	"log/slog"
	"net"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/testutil"
)

// TestPrivilegedLinks drives the kernel layer in fresh namespaces: bridge
// creation and convergence, the veth pair made in one call, the leftover
// and name-taken cases, the pod side, the port wait and deletion.
func TestPrivilegedLinks(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	log := discardLog()
	conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"br7","mtu":1400,"hairpinMode":true,
		"portIsolation":true,"isGateway":true,"runtimeConfig":{"mac":"0a:58:00:00:00:07"},"ipam":{"type":"x"}}`)
	lp, ap, podNS := planAttachment(t, pod, conf, `{"cniVersion":"1.1.0","ips":[{"address":"10.7.0.5/24"},{"address":"fd00:7::5/64"}],
		"routes":[{"dst":"0.0.0.0/0"},{"dst":"10.70.0.0/16"},{"dst":"::/0"}]}`)
	err := node.Do(func() error {
		br, err := ensureBridge(lp, log)
		if err != nil {
			return err
		}
		att, err := setupLinks(lp, br, podNS, nil, log)
		if err != nil {
			return err
		}
		if att.pod, err = setupPod(podNS, lp, ap); err != nil {
			return err
		}
		if err := ensureGateways(att.bridge, ap.Gateways, false, log); err != nil {
			return err
		}
		if err := waitPortUp(att.host); err != nil {
			return err
		}
		// The host end is up with a carrier, yet has no IPv6 address of
		// its own and ignores router advertisements.
		host := lp.HostVeth
		if got := node.MustExec(t, "ip", "-d", "link", "show", "dev", host); !strings.Contains(got, "addrgenmode none") || !strings.Contains(got, "LOWER_UP") {
			t.Errorf("host veth: %s", got)
		}
		if got := node.MustExec(t, "ip", "-6", "addr", "show", "dev", host); got != "" {
			t.Errorf("host veth IPv6 addresses: %q, want none", got)
		}
		if got := node.Sysctl(t, "net/ipv6/conf/"+host+"/accept_ra"); got != "0" {
			t.Errorf("host veth accept_ra = %s", got)
		}
		// A second ADD of the same attachment replaces the leftover pair.
		if _, err := createVeth(lp, 1400, att.bridge.Attrs().Index, podNS, log); err != nil {
			return err
		}
		// A name taken in the pod by something else is code 4.
		other := lp
		other.HostVeth, other.PodIf = "vethother", "lo"
		if _, err := createVeth(other, 1400, 0, podNS, log); cniplugin.Code(err) != cniplugin.ErrInvalidEnvironment || !errors.Is(err, errIfExists) {
			t.Errorf("veth with a taken pod name: %v (code %d), want code 4", err, cniplugin.Code(err))
		}
		gone, err := deleteHostVeth(lp.HostVeth)
		if err != nil || !gone {
			t.Errorf("delete host veth = %v, %v", gone, err)
		}
		gone, err = deleteHostVeth(lp.HostVeth)
		if err != nil || gone {
			t.Errorf("second delete = %v, %v, want nothing to do", gone, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Sysctl(t, "net/ipv6/conf/br7/accept_ra"); got != "0" {
		t.Errorf("bridge accept_ra = %s", got)
	}
	if got := node.MustExec(t, "ip", "-d", "link", "show", "br7"); !strings.Contains(got, "mtu 1400") || !strings.Contains(got, "addrgenmode") {
		t.Errorf("bridge: %s", got)
	}
	if got := node.MustExec(t, "ip", "-o", "addr", "show", "dev", "br7"); !strings.Contains(got, "10.7.0.1/24") || !strings.Contains(got, "fd00:7::1/64") {
		t.Errorf("bridge addresses: %s", got)
	}
	if links := pod.LinkNames(t); strings.Join(links, ",") != "lo" {
		t.Errorf("pod links after delete: %v", links)
	}
	if v := node.LinkNames(t); strings.Join(v, ",") != "br7,lo" {
		t.Errorf("node links after delete: %v", v)
	}
}

// TestPrivilegedPodSide checks what setupPod leaves in the pod: MAC, MTU,
// addresses without DAD, routes with the gateway filled in, sysctls.
func TestPrivilegedPodSide(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","isDefaultGateway":true,"mtu":1300,
		"args":{"cni":{"mac":"0a:58:00:00:00:08"}},"ipam":{"type":"x"}}`)
	att, l := setUpPodEnd(t, node, pod, conf, `{"cniVersion":"1.1.0","ips":[{"address":"10.8.0.5/24"},{"address":"fd00:8::5/64"}],
		"routes":[{"dst":"10.80.0.0/16"}]}`)
	if att.host.Attrs().ParentIndex == 0 {
		t.Error("the host veth does not report its peer's ifindex")
	}
	if l.Attrs().HardwareAddr.String() != "0a:58:00:00:00:08" || l.Attrs().MTU != 1300 {
		t.Errorf("pod link MAC %s MTU %d", l.Attrs().HardwareAddr, l.Attrs().MTU)
	}
	err := node.Do(func() error {
		h, err := netlink.LinkByIndex(att.host.Attrs().Index)
		if err != nil {
			return err
		}
		if h.Attrs().MTU != 1300 || h.Attrs().MasterIndex != att.bridge.Attrs().Index {
			t.Errorf("host veth MTU %d master %d", h.Attrs().MTU, h.Attrs().MasterIndex)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs := pod.MustExec(t, "ip", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(addrs, "10.8.0.5/24") || !strings.Contains(addrs, "fd00:8::5/64") || strings.Contains(addrs, "tentative") {
		t.Errorf("pod addresses: %s", addrs)
	}
	routes := strings.Join(append(pod.Routes(t, "4"), pod.Routes(t, "6")...), "\n")
	for _, want := range []string{"default via 10.8.0.1 dev eth0", "10.80.0.0/16 via 10.8.0.1 dev eth0", "default via fd00:8::1 dev eth0"} {
		if !strings.Contains(routes, want) {
			t.Errorf("pod routes lack %q:\n%s", want, routes)
		}
	}
	for key, want := range map[string]string{
		"net/ipv6/conf/eth0/accept_dad": "0", "net/ipv4/conf/eth0/arp_notify": "1", "net/ipv6/conf/eth0/keep_addr_on_down": "1",
		"net/ipv6/conf/eth0/accept_ra": "0",
	} {
		if got := pod.Sysctl(t, key); got != want {
			t.Errorf("pod %s = %s, want %s", key, got, want)
		}
	}
}

// TestPrivilegedPodSetupAbort: an ADD that fails while IPAM runs aborts the
// pod setup after its first step: the IPv6 sysctls are set, but the link
// stays down (the bridge gets no carrier from it) and has no address.
func TestPrivilegedPodSetupAbort(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","ipam":{"type":"x"}}`)
	lp := planLinks(conf, "cid", "eth0")
	podNS, _ := ns.GetNS(pod.Path)
	defer podNS.Close()
	err := node.Do(func() error {
		att, err := ensureAndSetupLinks(lp, podNS, discardLog())
		if err != nil {
			return err
		}
		s := startPodSetup(podNS, lp, att.host.Attrs().ParentIndex, true)
		s.abort()
		if _, err := s.wait(); !errors.Is(err, errPodSetupAborted) {
			t.Errorf("aborted pod setup returned %v", err)
		}
		s.abort() // a second abort is a no-op
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"net/ipv6/conf/eth0/accept_dad", "net/ipv6/conf/eth0/accept_ra"} {
		if got := pod.Sysctl(t, key); got != "0" {
			t.Errorf("%s = %s, want 0 from the first step", key, got)
		}
	}
	link := pod.MustExec(t, "ip", "-o", "link", "show", "dev", "eth0")
	addrs := pod.MustExec(t, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if strings.Contains(link, ",UP") || strings.TrimSpace(addrs) != "" {
		t.Errorf("pod eth0 after abort: %s / addresses %q; want down, no address", link, addrs)
	}
}

// TestPrivilegedCheckPod: CHECK's pod side passes on what setupPod built
// and names what is missing once an address or a route is removed.
func TestPrivilegedCheckPod(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","isDefaultGateway":true,"ipam":{"type":"x"}}`)
	lp := planLinks(conf, "cid", "eth0")
	ap, err := planAddrs(conf, ipamResult(t, `{"cniVersion":"1.1.0","ips":[{"address":"10.9.0.5/24"},{"address":"fd00:9::5/64"}],
		"routes":[{"dst":"10.90.0.0/16"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	podNS, _ := ns.GetNS(pod.Path)
	defer podNS.Close()
	podIf := &current.Interface{Name: "eth0"}
	check := func() error {
		_, err := checkPod(podNS, podIf, ap.Result)
		return err
	}
	err = node.Do(func() error {
		if _, err := ensureAndSetupLinks(lp, podNS, discardLog()); err != nil {
			return err
		}
		_, err := setupPod(podNS, lp, ap)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := check(); err != nil {
		t.Fatalf("CHECK of a fresh pod: %v", err)
	}
	pod.MustExec(t, "ip", "route", "del", "10.90.0.0/16")
	if err := check(); err == nil || !strings.Contains(err.Error(), "route 10.90.0.0/16 is missing") {
		t.Fatalf("CHECK without the route: %v", err)
	}
	pod.MustExec(t, "ip", "route", "add", "10.90.0.0/16", "via", "10.9.0.1")
	pod.MustExec(t, "ip", "addr", "del", "fd00:9::5/64", "dev", "eth0")
	if err := check(); err == nil || !strings.Contains(err.Error(), "address fd00:9::5/64 is missing") {
		t.Fatalf("CHECK without the IPv6 address: %v", err)
	}
}

// TestPrivilegedAnnounceReused: a peer that still maps an address to the
// previous pod's MAC learns the new pod's MAC from the announcement step 3
// makes, and an address not handed to it is not announced.
func TestPrivilegedAnnounceReused(t *testing.T) {
	node := testutil.NewNode(t, "node")
	peer, pod := testutil.NewPod(t, "peer"), testutil.NewPod(t, "pod")
	conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge","bridge":"br9","ipam":{"type":"x"}}`)
	plan := func(ip string) *addrPlan {
		ap, err := planAddrs(conf, ipamResult(t, `{"cniVersion":"1.1.0","ips":[{"address":"`+ip+`/24"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	attach := func(p *testutil.Pod, cid, ip string, announce []net.IP) {
		podNS, _ := ns.GetNS(p.Path)
		defer podNS.Close()
		lp := planLinks(conf, cid, "eth0")
		err := node.Do(func() error {
			att, err := ensureAndSetupLinks(lp, podNS, discardLog())
			if err != nil {
				return err
			}
			job := startPodSetup(podNS, lp, att.host.Attrs().ParentIndex, true)
			job.proceed(plan(ip))
			job.announceAddrs(announce)
			_, err = job.wait()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	attach(peer, "peer", "10.9.9.2", nil)
	// The peer still maps .5 and .6 to a pod that is gone.
	for _, ip := range []string{"10.9.9.5", "10.9.9.6"} {
		peer.MustExec(t, "ip", "neigh", "replace", ip, "lladdr", "02:00:00:00:00:99", "dev", "eth0", "nud", "stale")
	}
	attach(pod, "pod", "10.9.9.5", []net.IP{net.ParseIP("10.9.9.5")})
	mac := strings.Fields(pod.MustExec(t, "cat", "/sys/class/net/eth0/address"))[0]
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := peer.MustExec(t, "ip", "neigh", "show", "10.9.9.5", "dev", "eth0")
		if strings.Contains(got, mac) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("peer's entry for the reused address after the announcement: %q, want %s", got, mac)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := peer.MustExec(t, "ip", "neigh", "show", "10.9.9.6", "dev", "eth0"); !strings.Contains(got, "02:00:00:00:00:99") {
		t.Fatalf("an address that was not announced changed: %q", got)
	}
}

// TestPrivilegedAddVeth: one request creates the pair with the host end
// up and on the bridge, the pod end down in the pod with its name, MAC and
// MTU, and reports the host end with its peer's ifindex; the same name
// again is EEXIST.
func TestPrivilegedAddVeth(t *testing.T) {
	node := testutil.NewNode(t, "node")
	pod := testutil.NewPod(t, "pod")
	podNS, _ := ns.GetNS(pod.Path)
	defer podNS.Close()
	node.MustExec(t, "ip", "link", "add", "brv", "type", "bridge")
	spec := vethSpec{host: "vethtest", peer: "eth1", mtu: 1450, hostMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1},
		peerMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, peerNetNS: int(podNS.Fd())}
	err := node.Do(func() error {
		br, err := netlink.LinkByName("brv")
		if err != nil {
			return err
		}
		spec.master = br.Attrs().Index
		host, err := addVeth(spec)
		if err != nil {
			return err
		}
		a := host.Attrs()
		if a.Name != "vethtest" || a.MasterIndex != spec.master || a.Flags&net.FlagUp == 0 || a.ParentIndex == 0 || a.MTU != 1450 || a.HardwareAddr.String() != "02:00:00:00:00:01" {
			t.Errorf("host end as reported: %+v", a)
		}
		if _, err := addVeth(spec); !errors.Is(err, syscall.EEXIST) {
			t.Errorf("second create: %v, want EEXIST", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.MustExec(t, "ip", "-o", "link", "show", "vethtest"); !strings.Contains(got, "master brv") || !strings.Contains(got, ",UP") {
		t.Errorf("host end: %s", got)
	}
	if got := pod.MustExec(t, "ip", "-o", "link", "show", "eth1"); !strings.Contains(got, "mtu 1450") || !strings.Contains(got, "02:00:00:00:00:02") || strings.Contains(got, ",UP") {
		t.Errorf("pod end: %s", got)
	}
}

// ensureAndSetupLinks is addAttachment's link half: the bridge, then the
// veth pair on it.
func ensureAndSetupLinks(lp linkPlan, pod ns.NetNS, log *slog.Logger) (*attachment, error) {
	br, err := ensureBridge(lp, log)
	if err != nil {
		return &attachment{}, err
	}
	return setupLinks(lp, br, pod, nil, log)
}

// TestPrivilegedSysctlTree: the node tree follows the namespace of the
// thread that uses it, so a tree opened in one namespace never writes
// into another's keys.
func TestPrivilegedSysctlTree(t *testing.T) {
	a := testutil.NewNode(t, "a")
	b := testutil.NewNode(t, "b")
	tree := &sysctlTree{}
	defer tree.close()
	for _, step := range []struct {
		node *testutil.Node
		val  string
	}{{a, "2"}, {b, "0"}, {a, "1"}} {
		if err := step.node.Do(func() error { return tree.write("net/ipv6/conf/lo/accept_ra", step.val) }); err != nil {
			t.Fatal(err)
		}
		if got := step.node.Sysctl(t, "net/ipv6/conf/lo/accept_ra"); got != step.val {
			t.Errorf("%s: accept_ra = %s, want %s", step.node.Name, got, step.val)
		}
	}
	if got := b.Sysctl(t, "net/ipv6/conf/lo/accept_ra"); got != "0" {
		t.Errorf("b: accept_ra = %s after a's last write, want 0", got)
	}
}

// TestPrivilegedForwarding: forwardingOn reads what /proc/sys shows, and
// enableForwarding turns on only the families asked for.
func TestPrivilegedForwarding(t *testing.T) {
	node := testutil.NewNode(t, "node")
	err := node.Do(func() error {
		for _, fam := range []int{syscall.AF_INET, syscall.AF_INET6} {
			if on, err := forwardingOn(fam); err != nil || on {
				t.Errorf("fresh namespace: forwardingOn(%d) = %v, %v; want false", fam, on, err)
			}
		}
		if err := enableForwarding(true, false); err != nil {
			return err
		}
		if on, err := forwardingOn(syscall.AF_INET); err != nil || !on {
			t.Errorf("after enabling IPv4: forwardingOn = %v, %v", on, err)
		}
		if on, _ := forwardingOn(syscall.AF_INET6); on {
			t.Error("enabling IPv4 turned on IPv6 forwarding")
		}
		return enableForwarding(false, true)
	})
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"} {
		if got := node.Sysctl(t, key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

// TestPrivilegedLinkAddrs: linkAddrs returns what the full dump returns
// for the link (IPv4 and IPv6, the kernel's link-local included) and
// nothing of another link.
func TestPrivilegedLinkAddrs(t *testing.T) {
	node := testutil.NewNode(t, "node")
	node.MustExec(t, "ip", "link", "add", "d1", "type", "bridge")
	node.MustExec(t, "ip", "link", "add", "d2", "type", "bridge")
	node.MustExec(t, "ip", "addr", "add", "10.9.0.1/24", "dev", "d1")
	node.MustExec(t, "ip", "addr", "add", "10.9.1.1/16", "dev", "d1")
	node.MustExec(t, "ip", "addr", "add", "fd00:9::1/64", "dev", "d1", "nodad")
	node.MustExec(t, "ip", "addr", "add", "10.9.2.1/24", "dev", "d2")
	node.MustExec(t, "ip", "link", "set", "d1", "up")
	err := node.Do(func() error {
		l, err := netlink.LinkByName("d1")
		if err != nil {
			return err
		}
		got, err := linkAddrs(l)
		if err != nil {
			return err
		}
		want, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		key := func(as []netlink.Addr) string {
			var s []string
			for _, a := range as {
				s = append(s, fmt.Sprintf("%s/%d/%d", a.IPNet, a.Flags, a.Scope))
			}
			sort.Strings(s)
			return strings.Join(s, " ")
		}
		if key(got) != key(want) {
			t.Errorf("linkAddrs(d1) = %s\nAddrList(d1) = %s", key(got), key(want))
		}
		if !strings.Contains(key(got), "10.9.1.1/16") || strings.Contains(key(got), "10.9.2.1") {
			t.Errorf("linkAddrs(d1) = %s", key(got))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestPrivilegedPodLinkLocal: an IPv4-only pod end comes up with no IPv6
// link-local address (and sends no MLD report for one), unless
// keepIPv6LinkLocal; a pod with an IPv6 address keeps its link-local one.
// arp_notify is set in every case.
func TestPrivilegedPodLinkLocal(t *testing.T) {
	for _, c := range []struct {
		name, extra, ips string
		wantLL           bool
	}{
		{"ipv4-only", ``, `[{"address":"10.8.0.5/24"}]`, false},
		{"ipv4-only, keepIPv6LinkLocal", `"keepIPv6LinkLocal":true,`, `[{"address":"10.8.0.5/24"}]`, true},
		{"dual-stack", ``, `[{"address":"10.8.0.5/24"},{"address":"fd00:8::5/64"}]`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			node := testutil.NewNode(t, "node")
			pod := testutil.NewPod(t, "pod")
			conf := mustConf(t, `{"cniVersion":"1.1.0","name":"n","type":"bridge",`+c.extra+`"ipam":{"type":"x"}}`)
			setUpPodEnd(t, node, pod, conf, `{"cniVersion":"1.1.0","ips":`+c.ips+`}`)
			// The link-local address appears as the link comes up; give the
			// kernel's carrier event a moment.
			var addrs string
			for i := 0; i < 50; i++ {
				addrs = pod.MustExec(t, "ip", "-o", "-6", "addr", "show", "dev", "eth0", "scope", "link")
				if strings.Contains(addrs, "fe80:") || !c.wantLL && i >= 10 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if got := strings.Contains(addrs, "fe80:"); got != c.wantLL {
				t.Errorf("link-local address present = %v, want %v: %q", got, c.wantLL, addrs)
			}
			if got := pod.Sysctl(t, "net/ipv4/conf/eth0/arp_notify"); got != "1" {
				t.Errorf("arp_notify = %s, want 1", got)
			}
			if !strings.Contains(pod.MustExec(t, "ip", "-o", "link", "show", "dev", "eth0"), ",UP") {
				t.Error("eth0 is not up")
			}
		})
	}
}

// planAttachment plans the links of conf's attachment "cid"/eth0 and its
// addresses from the IPAM result ipamJSON, and opens pod's namespace,
// closed when the test ends.
func planAttachment(t *testing.T, pod *testutil.Pod, conf *netConf, ipamJSON string) (linkPlan, *addrPlan, ns.NetNS) {
	t.Helper()
	lp := planLinks(conf, "cid", "eth0")
	ap, err := planAddrs(conf, ipamResult(t, ipamJSON))
	if err != nil {
		t.Fatal(err)
	}
	podNS, err := ns.GetNS(pod.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = podNS.Close() })
	return lp, ap, podNS
}

// setUpPodEnd creates the bridge and the veth pair in node and runs the
// whole pod setup in pod with the IPAM result ipamJSON; it returns the
// attachment and the configured pod link, and fails the test on error.
func setUpPodEnd(t *testing.T, node *testutil.Node, pod *testutil.Pod, conf *netConf, ipamJSON string) (*attachment, netlink.Link) {
	t.Helper()
	lp, ap, podNS := planAttachment(t, pod, conf, ipamJSON)
	var (
		att *attachment
		l   netlink.Link
		err error
	)
	err = node.Do(func() error {
		if att, err = ensureAndSetupLinks(lp, podNS, discardLog()); err != nil {
			return err
		}
		job := startPodSetup(podNS, lp, att.host.Attrs().ParentIndex, true)
		job.proceed(ap)
		l, err = job.wait()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return att, l
}
