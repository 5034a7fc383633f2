package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/overlay"
)

const syncUsage = "usage: vxlan sync --conf <conflist file> [--watch] [--interval <duration>]"

// resyncEvery bounds how long kernel drift (a deleted route, a recreated
// underlay) survives in --watch mode when the files do not change.
const resyncEvery = 30 * time.Second

// runSync is `vxlan sync`: reconcile the node's overlay from a conflist
// once (exit 0, or 1 with the error), or with --watch until SIGTERM,
// again whenever the conflist or its peersFile changes. Usage errors exit
// 2 with the usage line.
func runSync(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("vxlan sync", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	confPath := fs.String("conf", "", "conflist holding the vxlan entry")
	watch := fs.Bool("watch", false, "keep reconciling until SIGTERM")
	interval := fs.Duration("interval", time.Second, "how often --watch looks at the files")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprintln(stderr, syncUsage)
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "vxlan sync: %v\n%s\n", err, syncUsage)
		return 2
	case *confPath == "" || fs.NArg() > 0 || *interval <= 0:
		fmt.Fprintln(stderr, syncUsage)
		return 2
	}
	s := &syncer{path: *confPath, log: slog.New(slog.NewTextHandler(stderr, nil)).With("command", "sync")}
	if !*watch {
		if err := s.once(context.Background()); err != nil {
			fmt.Fprintf(stderr, "vxlan sync: %v\n", err)
			return 1
		}
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	s.watch(ctx, *interval)
	return 0
}

// syncer reconciles the overlay of one conflist.
type syncer struct {
	path string
	log  *slog.Logger
}

// once reconciles the overlay from the conflist and its peers file.
func (s *syncer) once(ctx context.Context) error {
	_, cfg, err := loadSyncConfig(s.path)
	if err != nil {
		return err
	}
	r := newReconciler(s.log)
	ch, err := r.Reconcile(ctx, cfg)
	if err != nil {
		return err
	}
	if !cfg.IPMasq {
		// ipMasq may have been turned off since the rules were installed.
		if err := r.RemoveMasquerade(ctx, cfg); err != nil {
			return err
		}
	}
	s.log.Info("overlay reconciled", "device", cfg.Device, "peers", len(cfg.Peers), "changes", len(ch.Ops))
	return nil
}

// watch reconciles at start, whenever the files change, and every
// resyncEvery, until ctx ends. Failures are logged and retried on the next
// change or resync: a half-written peers file must not stop the loop.
func (s *syncer) watch(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var last [32]byte
	var lastRun time.Time
	for {
		fp := s.fingerprint()
		if lastRun.IsZero() || fp != last || time.Since(lastRun) >= resyncEvery {
			if err := s.once(ctx); err != nil {
				s.log.Error("reconcile failed", "error", err.Error())
			}
			last, lastRun = fp, time.Now()
		}
		select {
		case <-ctx.Done():
			s.log.Info("stopping")
			return
		case <-ticker.C:
		}
	}
}

// fingerprint hashes the conflist and its peers file; unreadable files
// hash as their error.
func (s *syncer) fingerprint() [32]byte {
	h := sha256.New()
	data, err := os.ReadFile(s.path)
	h.Write(data)
	fmt.Fprint(h, err)
	if conf, _, err := loadSyncConfig(s.path); conf != nil && conf.PeersFile != "" {
		peers, perr := readRegular(conf.PeersFile)
		h.Write(peers)
		fmt.Fprint(h, perr, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// readRegular reads a regular file of at most overlay.MaxPeersFileSize
// bytes. A FIFO or a device is an error, not a read that blocks --watch
// forever or never ends.
func readRegular(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() || st.Size() > overlay.MaxPeersFileSize {
		return nil, fmt.Errorf("%s: not a regular file of at most %d bytes", path, overlay.MaxPeersFileSize)
	}
	return os.ReadFile(path)
}

// syncList is the part of a conflist that sync reads.
type syncList struct {
	CNIVersion string            `json:"cniVersion"`
	Name       string            `json:"name"`
	Plugins    []json.RawMessage `json:"plugins"`
}

// syncPlugin is the part of any plugin entry that sync reads.
type syncPlugin struct {
	Type string `json:"type"`
	IPAM struct {
		Type   string `json:"type"`
		Subnet string `json:"subnet"`
		Ranges [][]struct {
			Subnet string `json:"subnet"`
		} `json:"ranges"`
	} `json:"ipam"`
}

// loadSyncConfig reads the conflist, takes its vxlan entry (with the
// list's name and cniVersion, as a runtime would inject them) and derives
// the subnet, when the entry has none, from a host-local range of another
// entry that lies inside network. It returns the entry even when the
// config is invalid, so the peers file can be watched.
func loadSyncConfig(path string) (*NetConf, *overlay.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, cniplugin.ConfigErrorf("conf %q: %w", path, err)
	}
	var list syncList
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, nil, cniplugin.ConfigErrorf("conf %q: decode: %w", path, err)
	}
	var conf *NetConf
	var ranges []string
	for i, raw := range list.Plugins {
		var p syncPlugin
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, cniplugin.ConfigErrorf("conf %q: plugins[%d]: decode: %w", path, i, err)
		}
		if p.Type == "vxlan" && conf == nil {
			if conf, err = parseConf(raw); err != nil {
				return nil, nil, fmt.Errorf("conf %q: plugins[%d]: %w", path, i, err)
			}
			continue
		}
		ranges = append(ranges, hostLocalSubnets(p)...)
	}
	if conf == nil {
		return nil, nil, cniplugin.ConfigErrorf("conf %q: no plugin of type \"vxlan\" in plugins", path)
	}
	conf.Name, conf.CNIVersion = list.Name, list.CNIVersion
	subnet, err := subnetFromRanges(conf, ranges)
	if err != nil {
		return conf, nil, fmt.Errorf("conf %q: %w", path, err)
	}
	cfg, err := conf.overlayConfig(subnet, withPeers)
	if err != nil {
		return conf, nil, fmt.Errorf("conf %q: %w", path, err)
	}
	return conf, cfg, nil
}

// hostLocalSubnets lists the subnets of a host-local ipam section.
func hostLocalSubnets(p syncPlugin) []string {
	if p.IPAM.Type != "host-local" {
		return nil
	}
	var subnets []string
	if p.IPAM.Subnet != "" {
		subnets = append(subnets, p.IPAM.Subnet)
	}
	for _, set := range p.IPAM.Ranges {
		for _, r := range set {
			subnets = append(subnets, r.Subnet)
		}
	}
	return subnets
}

// subnetFromRanges picks the first host-local subnet inside network, unless
// the vxlan entry sets subnet itself.
func subnetFromRanges(conf *NetConf, ranges []string) (netip.Prefix, error) {
	if conf.Subnet != "" {
		return netip.Prefix{}, nil
	}
	nw, err := netip.ParsePrefix(conf.Network)
	if err != nil {
		return netip.Prefix{}, nil // overlayConfig names the bad network
	}
	for _, r := range ranges {
		p, err := netip.ParsePrefix(r)
		if err == nil && p.Bits() >= nw.Bits() && nw.Contains(p.Addr()) {
			return p.Masked(), nil
		}
	}
	return netip.Prefix{}, cniplugin.ConfigErrorf("subnet: not set in the vxlan entry, and no host-local range of the conflist lies inside network %s (ranges: %v)", nw, ranges)
}
