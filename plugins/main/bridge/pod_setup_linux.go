package main

import (
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// setupPod configures the pod end inside its namespace and returns it
// (see podSetup); a is nil in L2 mode. It announces no address.
func setupPod(pod ns.NetNS, p linkPlan, a *addrPlan) (netlink.Link, error) {
	s := startPodSetup(pod, p, 0, a != nil)
	s.proceed(a)
	return s.wait()
}

// podSetup configures the pod end in one trip into the pod's namespace,
// in three steps, so that the first overlaps with IPAM and the second with
// the node side:
//
//  1. at once: find the link, set arp_notify and the DAD settings;
//  2. with the address plan (so that an ADD that fails in IPAM never gives
//     the bridge a carrier): link up before any address, as the reference
//     does, so that coming up announces nothing to every pod on the
//     bridge; the IPv6 switches when an IPv6 address is coming, the
//     addresses, the routes, and with enabledad the wait for DAD to
//     finish;
//  3. with the node side's findings: a gratuitous ARP for each IPv4
//     address the node still had a neighbor entry for (a reused address
//     that peers may map to the previous pod's MAC); then the link is read
//     back.
type podSetup struct {
	plan     chan podStep
	announce chan podStep
	done     chan podOutcome
	// planSent, announceSent and out record what proceed, announceAddrs,
	// abort and wait already did.
	planSent, announceSent bool
	out                    *podOutcome
}

// podStep is the go-ahead for the next step, or abort.
type podStep struct {
	// addrs is the address plan of step 2 (nil in L2 mode).
	addrs *addrPlan
	// announce are the addresses step 3 announces.
	announce []net.IP
	abort    bool
}

type podOutcome struct {
	link netlink.Link
	err  error
}

// errPodSetupAborted ends a pod setup whose ADD failed before it was
// finished.
var errPodSetupAborted = errors.New("pod setup aborted")

// startPodSetup starts step 1. index is the pod end's ifindex in the pod
// (the host end's peer index), 0 to look it up by name; l3 says whether
// addresses follow.
func startPodSetup(pod ns.NetNS, p linkPlan, index int, l3 bool) *podSetup {
	s := &podSetup{plan: make(chan podStep, 1), announce: make(chan podStep, 1), done: make(chan podOutcome, 1)}
	go func() {
		var o podOutcome
		o.err = pod.Do(func(ns.NetNS) error {
			var err error
			o.link, err = configurePod(p, index, l3, s.plan, s.announce)
			return err
		})
		s.done <- o
	}()
	return s
}

// proceed lets step 2 run with the address plan a.
func (s *podSetup) proceed(a *addrPlan) {
	s.planSent = true
	s.plan <- podStep{addrs: a}
}

// announceAddrs lets step 3 run, announcing ips.
func (s *podSetup) announceAddrs(ips []net.IP) {
	s.announceSent = true
	s.announce <- podStep{announce: ips}
}

// wait returns the configured pod link, re-read after the last change.
// Step 3 announces nothing if announceAddrs was not called.
func (s *podSetup) wait() (netlink.Link, error) {
	if s.out == nil {
		if s.planSent && !s.announceSent {
			s.announceAddrs(nil)
		}
		o := <-s.done
		s.out = &o
	}
	return s.out.link, s.out.err
}

// abort stops a setup at the next step it waits for and waits for it to
// end; a nil or finished setup is left alone.
func (s *podSetup) abort() {
	if s == nil {
		return
	}
	switch {
	case s.out != nil:
	case !s.planSent:
		s.planSent = true
		s.plan <- podStep{abort: true}
	case !s.announceSent:
		s.announceSent = true
		s.announce <- podStep{abort: true}
	}
	_, _ = s.wait()
}

// configurePod runs the three steps in the pod's namespace.
func configurePod(p linkPlan, index int, l3 bool, plan, announce <-chan podStep) (netlink.Link, error) {
	l, err := podLink(p.PodIf, index)
	if err != nil {
		return nil, err
	}
	sysctls := &sysctlTree{} // this thread is in the pod's namespace
	defer sysctls.close()
	var dadErr error
	if l3 {
		if dadErr, err = podSysctls(sysctls, p); err != nil {
			return nil, err
		}
	}
	step := <-plan
	if step.abort {
		return nil, errPodSetupAborted
	}
	// An IPv4-only pod gets no IPv6 link-local address unless asked: see
	// linkPlan.KeepLinkLocal.
	quiet := step.addrs != nil && !step.addrs.V6 && !p.KeepLinkLocal && dadErr == nil
	if err := setPodLink(l.Attrs().Index, podLinkSettings{up: p.PodUp, arpNotify: l3, noLinkLocal: quiet}); err != nil {
		return nil, fmt.Errorf("%q: %w", p.PodIf, err)
	}
	if a := step.addrs; a != nil {
		if err := configurePodAddrs(sysctls, l, p, a, dadErr); err != nil {
			return nil, err
		}
	}
	if step = <-announce; step.abort {
		return nil, errPodSetupAborted
	}
	if err := announceIPv4(l, step.announce); err != nil {
		return nil, err
	}
	return rereadPodLink(l, p.PodIf)
}

// configurePodAddrs is step 2: IPv6 switches, addresses, routes, DAD.
func configurePodAddrs(t *sysctlTree, l netlink.Link, p linkPlan, a *addrPlan, dadErr error) error {
	if a.V6 {
		if dadErr != nil {
			return fmt.Errorf("pod: %w", dadErr)
		}
		if err := podIPv6Sysctls(t, p); err != nil {
			return err
		}
	}
	if err := addPodAddrs(l, a.PodAddrs, p.EnhancedDAD); err != nil {
		return err
	}
	if err := addPodRoutes(l, a.PodRoutes); err != nil {
		return err
	}
	if a.V6 && p.EnhancedDAD {
		return waitDAD(l)
	}
	return nil
}

// rereadPodLink reads the configured link back for the result, checking
// that the index still names it.
func rereadPodLink(l netlink.Link, name string) (netlink.Link, error) {
	link, err := netlink.LinkByIndex(l.Attrs().Index)
	if err != nil {
		return nil, fmt.Errorf("read %q in the pod: %w", name, err)
	}
	if link.Attrs().Name != name {
		return nil, fmt.Errorf("read %q in the pod: ifindex %d is %q", name, l.Attrs().Index, link.Attrs().Name)
	}
	return link, nil
}

// podLink returns the pod end to configure: by the ifindex the kernel
// reported as the host end's peer when known (it was created by this very
// call, so no lookup is needed), else by name.
func podLink(name string, index int) (netlink.Link, error) {
	if index > 0 {
		return &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: index, Name: name}}, nil
	}
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find %q in the pod: %w", name, err)
	}
	return l, nil
}
