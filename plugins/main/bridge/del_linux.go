package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/linkdel"
	"github.com/podnet/podnet/pkg/netfilter"
)

// delAttachment performs DEL: the veth pair goes (found by its stable
// host-side name, so a vanished netns does not matter) while IPAM
// releases. No netfilter state is per pod (but the two spoof check
// elements of macspoofchk, found by their comment), so a normal DEL writes
// none;
// only when the bridge itself is gone are the network's masquerade rules
// torn down. Everything missing counts as done.
func delAttachment(ctx context.Context, c *cniplugin.Call, conf *netConf, d deps) error {
	ipam := d.ipam(conf, c)
	ipamErr := make(chan error, 1)
	go func() { ipamErr <- ipam.Del(ctx) }()
	err := errors.Join(deleteLinks(conf, c), <-ipamErr)
	if conf.MacSpoofChk {
		err = errors.Join(err, d.spoof().DeleteSpoofCheck(ctx, netfilter.SpoofKey(conf.Name, c.ContainerID, c.IfName)))
	}
	if err != nil {
		return err
	}
	return teardownIfBridgeGone(ctx, conf, d, c.Log)
}

// deleteLinks deletes the attachment's veth pair. Our ADD names the host
// end after the attachment; a pair made by the reference plugin has a
// random name and is found from the pod's side instead.
func deleteLinks(conf *netConf, c *cniplugin.Call) error {
	deleted, err := deleteHostVeth(hostVethName(conf.Name, c.ContainerID, c.IfName))
	if err != nil || deleted || c.Netns == "" {
		return err
	}
	pod, err := cniplugin.OpenNetNS(c.Netns)
	if errors.Is(err, cniplugin.ErrNetNSGone) {
		c.Log.Info("netns already gone; its veth went with it")
		return nil
	}
	if err != nil {
		return err
	}
	defer pod.Close()
	return deleteForeignPair(pod, c.IfName, conf.BrName, c.Log)
}

// deleteForeignPair deletes the pod's interface only if it is a veth whose
// peer is a port of our bridge: after a failed ADD the name may belong to
// another plugin's interface, which DEL must not touch.
func deleteForeignPair(pod ns.NetNS, ifName, bridge string, log *slog.Logger) error {
	peer, err := podVethPeer(pod, ifName)
	if err != nil || peer == 0 {
		return err
	}
	host, err := netlink.LinkByIndex(peer)
	if isNotFound(err) {
		return nil // the pair is going away already
	}
	if err != nil {
		return fmt.Errorf("find the peer of %q: %w", ifName, err)
	}
	br, err := netlinksafe.LinkByName(bridge)
	if err != nil || host.Attrs().MasterIndex != br.Attrs().Index {
		log.Info("pod interface is not on our bridge; leaving it", "ifname", ifName)
		return nil
	}
	if err := linkdel.Delete(host); err != nil {
		return fmt.Errorf("delete veth %q: %w", host.Attrs().Name, err)
	}
	return nil
}

// podVethPeer returns the node-side ifindex of the pod's veth, or 0 when
// the interface is missing or not a veth.
func podVethPeer(pod ns.NetNS, ifName string) (int, error) {
	peer := 0
	err := pod.Do(func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(ifName)
		if isNotFound(err) {
			return nil // already gone
		}
		if err != nil {
			return fmt.Errorf("find %q in the pod: %w", ifName, err)
		}
		if l.Type() == "veth" {
			peer = l.Attrs().ParentIndex
		}
		return nil
	})
	return peer, err
}

// teardownIfBridgeGone removes the network's masquerade rules when its
// bridge no longer exists: nothing can use them any more.
func teardownIfBridgeGone(ctx context.Context, conf *netConf, d deps, log *slog.Logger) error {
	if !conf.IPMasq || !conf.l3() {
		return nil
	}
	_, err := netlinksafe.LinkByName(conf.BrName)
	if !isNotFound(err) {
		return nil
	}
	m, err := d.masq(conf.backend)
	if err != nil {
		return err
	}
	log.Info("bridge is gone; removing the network's masquerade rules", "bridge", conf.BrName)
	if err := m.DeleteMasquerade(ctx, conf.Name); err != nil {
		return fmt.Errorf("bridge %q is gone: %w", conf.BrName, err)
	}
	return nil
}
