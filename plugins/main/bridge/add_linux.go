package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/netfilter"
)

// attachment holds what ADD built so far, for the result and for undo.
type attachment struct {
	bridge, host, pod, vlanGW netlink.Link
	// spoofKey is set once the MAC spoof check elements were added.
	spoofKey string
}

// ipamOutcome is the IPAM ADD that runs while the links are built.
type ipamOutcome struct {
	res  *current.Result
	err  error
	took time.Duration
}

// addAttachment performs ADD: the links are built, and the pod end
// prepared, while IPAM allocates; then the pod's addresses and routes and,
// at the same time, the node side (gateway, forwarding, masquerade). On
// any failure it undoes what it did: the veth pair and the IPAM
// allocation.
func addAttachment(ctx context.Context, c *cniplugin.Call, conf *netConf, d deps) (_ *current.Result, err error) {
	ipam := d.ipam(conf, c)
	pod, err := cniplugin.OpenNetNS(c.Netns)
	if err != nil {
		return nil, err
	}
	defer pod.Close()
	// Refuse bad input before anything is touched, so the refusal leaves
	// nothing behind: an IPAM config host-local would refuse, a taken
	// interface name, a link of the bridge's name that is no bridge. Only
	// then do IPAM and the links run side by side.
	lp := planLinks(conf, c.ContainerID, c.IfName)
	found, err := validateAdd(ipam, pod, c.IfName, lp.Bridge)
	if err != nil {
		return nil, err
	}
	br, err := ensureFoundBridge(found, lp, c.Log)
	if err != nil {
		return nil, err
	}

	start := time.Now()
	ipamCh := make(chan ipamOutcome, 1)
	go func() {
		res, err := ipam.Add(ctx)
		ipamCh <- ipamOutcome{res, err, time.Since(start)}
	}()
	var podJob *podSetup
	att, linkErr := setupLinks(lp, br, pod, func(host netlink.Link) {
		podJob = startPodSetup(pod, lp, host.Attrs().ParentIndex, conf.l3())
	}, c.Log)
	linksDone := time.Since(start)
	out := <-ipamCh
	defer func() {
		if err != nil {
			podJob.abort()
			undoAdd(ctx, att, out, ipam, d, c.Log)
		}
	}()
	if linkErr != nil {
		return nil, linkErr
	}
	if out.err != nil {
		return nil, out.err
	}
	var ap *addrPlan
	if conf.l3() {
		if ap, err = planAddrs(conf, out.res); err != nil {
			return nil, err
		}
	}
	if err = configure(ctx, c, conf, d, lp, podJob, att, ap); err != nil {
		return nil, err
	}
	c.Log.Debug("attached", "veth", lp.HostVeth, "links", linksDone, "ipam", out.took, "total", time.Since(start))
	return attachmentResult(att, c.Netns, ap), nil
}

// configure does what follows the links and IPAM: the pod's addresses and
// the node side (L3) side by side (the pod announces the addresses the
// node still had neighbor entries for), then the spoof check and the wait
// for the port.
func configure(ctx context.Context, c *cniplugin.Call, conf *netConf, d deps, lp linkPlan, podJob *podSetup, att *attachment, ap *addrPlan) error {
	podJob.proceed(ap)
	nodeErr := finishNode(ctx, c, conf, d, lp, podJob, att, ap)
	var err error
	if att.pod, err = podJob.wait(); err != nil {
		return err
	}
	if nodeErr != nil {
		return nodeErr
	}
	if conf.MacSpoofChk {
		att.spoofKey = netfilter.SpoofKey(conf.Name, c.ContainerID, c.IfName)
		if err := d.spoof().EnsureSpoofCheck(ctx, att.spoofKey, lp.HostVeth, att.pod.Attrs().HardwareAddr); err != nil {
			return err
		}
	}
	if lp.PodUp {
		return waitPortUp(att.host)
	}
	return nil
}

// finishNode is the node's part after IPAM, run while the pod configures
// its addresses: setupNode (L3), then the bridge read back for the result
// (its MAC may have changed with the new port or the gateway address).
func finishNode(ctx context.Context, c *cniplugin.Call, conf *netConf, d deps, lp linkPlan, podJob *podSetup, att *attachment, ap *addrPlan) error {
	if ap != nil {
		if err := setupNode(ctx, conf, lp, att, ap, d, podJob.announceAddrs, c.Log); err != nil {
			return err
		}
	}
	br, err := netlink.LinkByIndex(att.bridge.Attrs().Index)
	if err != nil {
		return fmt.Errorf("read bridge %q: %w", att.bridge.Attrs().Name, err)
	}
	att.bridge = br
	return nil
}

// setupLinks creates the veth pair and makes its host end a port of br
// (ensured by ensureBridge). onVeth, when not nil, is called as soon as
// the pair exists, so that the pod end is configured while the host end is
// finished. The returned attachment holds what exists even on error, for
// undo.
func setupLinks(lp linkPlan, br netlink.Link, pod ns.NetNS, onVeth func(host netlink.Link), log *slog.Logger) (*attachment, error) {
	att := &attachment{bridge: br}
	var err error
	mtu := lp.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	if att.host, err = createVeth(lp, mtu, br.Attrs().Index, pod, log); err != nil {
		return att, err
	}
	if onVeth != nil {
		onVeth(att.host)
	}
	if err := quietPort(att.host.Attrs().Index, lp.HostVeth); err != nil {
		return att, err
	}
	return att, configurePort(att.host, lp)
}

// setupNode does the node side of L3: gateway addresses, forwarding, the
// neighbor entries of reused addresses (handed to announce, for the pod
// to announce to its peers), masquerade.
func setupNode(ctx context.Context, conf *netConf, lp linkPlan, att *attachment, ap *addrPlan, d deps, announce func([]net.IP), log *slog.Logger) error {
	gwLink := att.bridge
	if conf.IsGW && lp.PVID != 0 {
		vl, err := ensureVlanGateway(att.bridge, lp)
		if err != nil {
			return err
		}
		att.vlanGW, gwLink = vl, vl
	}
	if err := ensureGateways(gwLink, ap.Gateways, conf.ForceAddress, log); err != nil {
		return err
	}
	if err := enableForwarding(ap.Forward4, ap.Forward6); err != nil {
		return err
	}
	reused, err := forgetNeighbors(gwLink, ap.PodAddrs)
	if err != nil {
		return err
	}
	announce(reused)
	if len(ap.Masq) == 0 {
		return nil
	}
	m, err := d.masq(conf.backend)
	if err != nil {
		return err
	}
	if err := m.EnsureMasquerade(ctx, conf.Name, ap.Masq); err != nil {
		return fmt.Errorf("ipMasq: %w", err)
	}
	return nil
}

// undoAdd removes what a failed ADD created: the spoof check elements,
// the veth pair (its pod end goes with it) and the IPAM allocation. The bridge, gateway addresses and
// masquerade rules are shared by the network and stay.
func undoAdd(ctx context.Context, att *attachment, out ipamOutcome, ipam ipamClient, d deps, log *slog.Logger) {
	if att != nil && att.spoofKey != "" {
		if err := d.spoof().DeleteSpoofCheck(ctx, att.spoofKey); err != nil {
			log.Error("undo ADD: " + err.Error())
		}
	}
	if att != nil && att.host != nil {
		if _, err := deleteHostVeth(att.host.Attrs().Name); err != nil {
			log.Error("undo ADD: " + err.Error())
		}
	}
	if out.err == nil {
		if err := ipam.Del(ctx); err != nil {
			log.Error("undo ADD: " + err.Error())
		}
	}
}

// attachmentResult builds the result from the links as read back.
func attachmentResult(att *attachment, sandbox string, ap *addrPlan) *current.Result {
	info := func(l netlink.Link) linkInfo {
		return linkInfo{Name: l.Attrs().Name, MAC: l.Attrs().HardwareAddr.String(), MTU: l.Attrs().MTU}
	}
	var vl *linkInfo
	if att.vlanGW != nil {
		i := info(att.vlanGW)
		vl = &i
	}
	return buildResult(info(att.bridge), info(att.host), info(att.pod), vl, sandbox, ap)
}

// validateAdd runs the read-only steps of ADD, the pod's interface name
// beside the IPAM config (when the IPAM can check it without allocating)
// and then the lookup of the bridge. It returns the bridge lookup for
// ensureFoundBridge. An IPAM error wins over an interface name error, as
// if they ran in that order.
func validateAdd(ipam ipamClient, pod ns.NetNS, ifname, bridge string) (bridgeLookup, error) {
	ifErr := make(chan error, 1)
	go func() { ifErr <- requireFreeIfName(pod, ifname) }()
	var err error
	if v, ok := ipam.(interface{ Validate() error }); ok {
		err = v.Validate()
	}
	var found bridgeLookup
	if err == nil {
		found = lookupBridge(bridge)
	}
	if e := <-ifErr; err == nil {
		err = e
	}
	return found, err
}

// requireFreeIfName returns code 4 when the pod already has a link named
// ifname (the spec: ADD must fail if the interface exists). It asks
// through a netlink socket opened in the pod's namespace, which costs no
// namespace switch of a Go thread (ns.Do retires the thread it used).
// Equivalent to: `ip -n $pod link show $ifname` failing.
func requireFreeIfName(pod ns.NetNS, ifname string) error {
	h, err := netlink.NewHandleAt(netns.NsHandle(pod.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("open netlink in pod netns %q: %w", pod.Path(), err)
	}
	defer h.Close()
	_, err = h.LinkByName(ifname)
	var notFound netlink.LinkNotFoundError
	switch {
	case err == nil:
		return cniplugin.Errorf(cniplugin.ErrInvalidEnvironment, "create %q in pod netns %q: %w", ifname, pod.Path(), errIfExists)
	case errors.As(err, &notFound):
		return nil
	}
	return fmt.Errorf("look up %q in pod netns %q: %w", ifname, pod.Path(), err)
}
