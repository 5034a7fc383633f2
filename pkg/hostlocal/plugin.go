package hostlocal

import (
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// Request is one call of a host-local CNI verb, as a plugin receives it:
// the runtime's CNI_CONTAINERID, CNI_IFNAME and CNI_ARGS, and the whole
// network config on stdin. The host-local binary and the bridge plugin
// (which runs host-local in its own process instead of exec'ing it) build
// it from the same skel arguments, so both paths take the same decisions,
// write the same files and return the same errors with the same codes.
type Request struct {
	// ContainerID is CNI_CONTAINERID; ADD, DEL and CHECK validate it.
	ContainerID string
	// IfName is CNI_IFNAME; ADD, DEL and CHECK validate it.
	IfName string
	// Args is CNI_ARGS; only ADD and CHECK read it (IP=).
	Args string
	// StdinData is the network config (the ipam object inside it, plus
	// runtimeConfig, args, prevResult and the GC attachment list).
	StdinData []byte
	// Log receives decisions the returned errors do not show; nil discards.
	Log *slog.Logger
	// Config, when not nil, is StdinData and Args already parsed (as
	// Validate returns it): Add uses it instead of parsing them again.
	Config *Config
}

// RequestFrom builds the Request of a skel invocation.
func RequestFrom(args *cniplugin.CmdArgs, log *slog.Logger) Request {
	return Request{ContainerID: args.ContainerID, IfName: args.IfName, Args: args.Args, StdinData: args.StdinData, Log: log}
}

func (r Request) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

// attachment validates the runtime's container ID and interface name before
// they reach the store; a bad one is an error of code 4.
func (r Request) attachment() (Attachment, error) {
	if err := ValidateContainerID(r.ContainerID); err != nil {
		return Attachment{}, cniplugin.WithCode(cniplugin.ErrInvalidEnvironment, fmt.Errorf("CNI_CONTAINERID: %w", err))
	}
	if err := ValidateIfName(r.IfName); err != nil {
		return Attachment{}, cniplugin.WithCode(cniplugin.ErrInvalidEnvironment, fmt.Errorf("CNI_IFNAME: %w", err))
	}
	return Attachment{ContainerID: r.ContainerID, IfName: r.IfName}, nil
}

// openPool opens the network's store under the config's dataDir. The
// returned close function logs rather than fails: it runs after the verb's
// work is done.
func (r Request) openPool(conf *Config) (*Pool, func(), error) {
	st, err := OpenDisk(conf.DataDir, conf.Name, r.Log)
	if err != nil {
		return nil, nil, cniplugin.WithCode(cniplugin.ErrIOFailure, fmt.Errorf("open store %s/%s: %w", conf.DataDir, conf.Name, err))
	}
	closeFn := func() {
		if err := st.Close(); err != nil {
			r.log().Warn("close store", "error", err)
		}
	}
	return &Pool{Store: st, Log: r.Log}, closeFn, nil
}

// Validate checks what Add would check before it touches the store: the
// attachment names, the config, the requested addresses. It writes nothing,
// so a caller can refuse bad input before it changes anything else.
// It returns the parsed config, for Request.Config.
func Validate(r Request) (*Config, error) {
	if _, err := r.attachment(); err != nil {
		return nil, err
	}
	conf, err := ParseConfig(r.StdinData, r.Args)
	if err != nil {
		return nil, err
	}
	return conf, conf.CheckAllocatable()
}

// config returns r.Config, or parses it.
func (r Request) config() (*Config, error) {
	if r.Config != nil {
		return r.Config, nil
	}
	return ParseConfig(r.StdinData, r.Args)
}

// Add performs ADD: it reserves one address in every range set for the
// attachment and returns the result (IPs, ipam.routes, DNS from
// resolvConf) in the current spec version, together with the config's
// cniVersion, in which a plugin prints it. On error nothing stays
// reserved.
func Add(r Request) (*current.Result, string, error) {
	a, err := r.attachment()
	if err != nil {
		return nil, "", err
	}
	conf, err := r.config()
	if err != nil {
		return nil, "", err
	}
	if err := conf.CheckAllocatable(); err != nil {
		return nil, "", err // before openPool: a refused config leaves no file behind
	}
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion, Routes: conf.Routes}
	if conf.ResolvConf != "" {
		dns, err := ParseResolvConf(conf.ResolvConf)
		if err != nil {
			return nil, "", cniplugin.WithCode(cniplugin.ErrInvalidNetworkConfig, err)
		}
		res.DNS = *dns
	}
	pool, closeFn, err := r.openPool(conf)
	if err != nil {
		return nil, "", err
	}
	defer closeFn()
	if res.IPs, err = pool.Allocate(a, conf); err != nil {
		return nil, "", err
	}
	r.log().Info("allocated", "ips", ipsString(res.IPs))
	return res, conf.CNIVersion, nil
}

// Del performs DEL: it releases every reservation of the attachment (or
// the legacy, container-ID-only ones). It reads only name, cniVersion and
// ipam.dataDir, so a config whose ranges no longer validate still
// releases. Nothing to release is success.
func Del(r Request) error {
	a, err := r.attachment()
	if err != nil {
		return err
	}
	conf, err := ParseStoreConfig(r.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := r.openPool(conf)
	if err != nil {
		return err
	}
	defer closeFn()
	released, err := pool.Release(a)
	if err != nil {
		return fmt.Errorf("release %s in network %q: %w", a.ContainerID+"/"+a.IfName, conf.Name, err)
	}
	r.log().Info("released", "ips", released)
	return nil
}

// Check performs CHECK: the attachment holds an address in every range
// set and, when the config carries a prevResult, the reserved addresses
// and prevResult's agree (see Pool.Check).
func Check(r Request) error {
	a, err := r.attachment()
	if err != nil {
		return err
	}
	conf, err := ParseConfig(r.StdinData, r.Args)
	if err != nil {
		return err
	}
	if err := conf.RequireRanges(); err != nil {
		return err
	}
	prev, err := prevIPs(r.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := r.openPool(conf)
	if err != nil {
		return err
	}
	defer closeFn()
	return pool.Check(a, conf, prev)
}

// Status performs STATUS: code 50 when an ADD could not be served (the
// store cannot be written, or a range set is full).
func Status(r Request) error {
	conf, err := ParseConfig(r.StdinData, "")
	if err != nil {
		return err
	}
	pool, closeFn, err := r.openPool(conf)
	if err != nil {
		return cniplugin.WithCode(cniplugin.ErrPluginNotAvailable, err)
	}
	defer closeFn()
	return pool.Status(conf, conf.DataDir+"/"+conf.Name)
}

// GC performs GC: it releases every reservation whose attachment is not
// in the config's valid-attachment list (see ParseValidAttachments). A
// config without the list is refused with code 7.
func GC(r Request) error {
	conf, err := ParseStoreConfig(r.StdinData)
	if err != nil {
		return err
	}
	valid, err := ParseValidAttachments(r.StdinData)
	if err != nil {
		return err
	}
	pool, closeFn, err := r.openPool(conf)
	if err != nil {
		return err
	}
	defer closeFn()
	removed, err := pool.GC(valid)
	for _, x := range removed {
		r.log().Info("garbage-collected", "ip", x.IP.String(), "containerID", x.ContainerID, "ifname", x.IfName)
	}
	return err
}

// prevIPs returns the addresses of prevResult, or nil when there is none.
func prevIPs(stdin []byte) ([]net.IP, error) {
	var pc types.PluginConf
	if err := cniplugin.DecodeConf(stdin, &pc); err != nil {
		return nil, err
	}
	_, r, err := cniplugin.CurrentPrevResult(&pc)
	if err != nil || r == nil {
		return nil, err
	}
	ips := []net.IP{}
	for _, ipc := range r.IPs {
		ips = append(ips, ipc.Address.IP)
	}
	return ips, nil
}

func ipsString(ips []*current.IPConfig) string {
	s := make([]string, len(ips))
	for i, x := range ips {
		s[i] = x.Address.String()
	}
	return strings.Join(s, ",")
}
