// Package cniplugin turns a plugin's verb functions into a CNI binary.
//
// It wraps the upstream skel dispatcher and adds what every podnet plugin
// shares: a logger configured from the logFile/logLevel keys, errors converted
// to CNI error JSON with the right code and the full context in the message,
// each error also written once to stderr in plain words, a cap on the size of
// stdin, and the checks skel leaves out (a config with no cniVersion).
package cniplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	cnins "github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podnet/podnet/pkg/buildinfo"
)

// MaxConfigSize bounds the network config read from stdin. Real configs are a
// few KiB; a larger input is refused before anything is parsed.
const MaxConfigSize = 1 << 20

// Call is one invocation of a verb: the skel arguments plus the command name
// and a logger that carries plugin, command, container ID, ifname and netns.
type Call struct {
	*skel.CmdArgs
	// Command is ADD, DEL, CHECK, STATUS or GC.
	Command string
	// Log never writes to stdout. It discards everything unless the config
	// sets logFile.
	Log *slog.Logger
}

// Funcs are a plugin's verb handlers. A nil handler means the verb has
// nothing to do and succeeds.
type Funcs struct {
	Add, Del, Check, Status, GC func(*Call) error
}

// Plugin describes one binary.
type Plugin struct {
	// Name is the CNI type, e.g. "bridge".
	Name string
	// Versions defaults to every version from 0.1.0 to 1.1.0.
	Versions version.PluginInfo
	Funcs
}

// Main runs the plugin with the process's environment and exits: 0 on
// success, 1 after printing the error JSON on stdout.
func Main(p Plugin) {
	os.Exit(run(p, os.Stdin, os.Stdout, os.Stderr))
}

func run(p Plugin, stdin io.Reader, stdout, stderr io.Writer) int {
	if p.Versions == nil {
		p.Versions = version.All
	}
	if os.Getenv("CNI_COMMAND") == "" {
		if err := refuseConfigWithoutCommand(stdin); err != nil {
			return fail(stdout, stderr, p.Name, err)
		}
	}
	// head is the config's head, decoded once here for wrap's logger and
	// checks (verbs other than VERSION only).
	var head confHead
	if os.Getenv("CNI_COMMAND") != "" && os.Getenv("CNI_COMMAND") != "VERSION" {
		data, err := io.ReadAll(io.LimitReader(stdin, MaxConfigSize+1))
		if err != nil {
			return fail(stdout, stderr, p.Name, Errorf(ErrIOFailure, "read network config from stdin: %w", err))
		}
		if len(data) > MaxConfigSize {
			return fail(stdout, stderr, p.Name, Errorf(ErrIOFailure, "read network config from stdin: larger than %d bytes", MaxConfigSize))
		}
		// A config without cniVersion is refused here, before skel's version
		// check would misreport it as "0.1.0" to a plugin that lacks 0.1.0.
		// Malformed JSON is left to skel, which reports it with code 6.
		if err := json.Unmarshal(data, &head); err == nil {
			if err := head.requireVersion(); err != nil {
				return fail(stdout, stderr, p.Name, err)
			}
		}
		if err := replaceStdin(data); err != nil {
			return fail(stdout, stderr, p.Name, Errorf(ErrIOFailure, "buffer network config: %w", err))
		}
	}
	funcs := skel.CNIFuncs{
		Add:    wrap(p.Name, "ADD", &head, p.Add, stderr),
		Del:    wrap(p.Name, "DEL", &head, p.Del, stderr),
		Check:  wrap(p.Name, "CHECK", &head, p.Check, stderr),
		Status: wrap(p.Name, "STATUS", &head, p.Status, stderr),
		GC:     wrap(p.Name, "GC", &head, p.GC, stderr),
	}
	if e := skel.PluginMainFuncsWithError(funcs, p.Versions, buildinfo.About(p.Name)); e != nil {
		return fail(stdout, stderr, p.Name, e)
	}
	return 0
}

// refuseConfigWithoutCommand tells apart the two callers that set no
// CNI_COMMAND. A person at a shell (stdin a terminal, or empty) gets skel's
// version lines on stderr and exit 0, as with every CNI plugin. A caller
// that pipes a network config but forgot CNI_COMMAND gets code 4, rather
// than an exit 0 that looks like success and did nothing.
func refuseConfigWithoutCommand(stdin io.Reader) error {
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice != 0 {
			return nil
		}
	}
	data, _ := io.ReadAll(io.LimitReader(stdin, MaxConfigSize))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return Errorf(ErrInvalidEnvironment, "CNI_COMMAND is not set, but a network config came on stdin; "+
		"set CNI_COMMAND to ADD, DEL, CHECK, STATUS, GC or VERSION (run with no stdin to print the plugin's version)")
}

// replaceStdin lets skel read the already-read config from a pipe. A
// config that fits the pipe's buffer (64 KiB on Linux, all but freak
// ones) is written at once; a bigger one by a goroutine as skel reads.
func replaceStdin(data []byte) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	os.Stdin = r
	if len(data) <= pipeBuffer {
		_, err = w.Write(data)
		return errors.Join(err, w.Close())
	}
	go func() {
		_, _ = io.Copy(w, bytes.NewReader(data))
		_ = w.Close()
	}()
	return nil
}

// pipeBuffer is the smallest pipe capacity Linux gives by default.
const pipeBuffer = 16 * 4096

// fail prints err as CNI error JSON on stdout and in plain words on stderr.
func fail(stdout, stderr io.Writer, plugin string, err error) int {
	e := ToCNIError(err)
	fmt.Fprintf(stderr, "podnet %s: %s %s(CNI error %d)\n", plugin, e.Msg, detailsSuffix(e.Details), e.Code)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "    ")
	if encErr := enc.Encode(e); encErr != nil {
		fmt.Fprintf(stderr, "podnet %s: write error JSON to stdout: %v\n", plugin, encErr)
	}
	return 1
}

func detailsSuffix(d string) string {
	if d == "" {
		return ""
	}
	return "(" + d + ") "
}

// wrap adapts a verb handler to skel: it adds the logger, refuses a config
// without cniVersion or with an over-long network name or container ID,
// and converts the returned error to a *types.Error.
func wrap(plugin, command string, head *confHead, fn func(*Call) error, stderr io.Writer) func(*skel.CmdArgs) error {
	return func(args *skel.CmdArgs) error {
		attrs := []any{"plugin", plugin, "command", command}
		if args.ContainerID != "" {
			attrs = append(attrs, "containerID", args.ContainerID)
		}
		if args.IfName != "" {
			attrs = append(attrs, "ifname", args.IfName)
		}
		if args.Netns != "" {
			attrs = append(attrs, "netns", args.Netns)
		}
		// run's one decode serves the logger and the checks; a malformed
		// config is reported by the verb's own decode.
		log, closer := openLog(head.LogConf, attrs, stderr)
		defer closer.Close()
		if err := head.requireVersion(); err != nil {
			log.Error(err.Error())
			return ToCNIError(err)
		}
		if err := refuseOverlong(args.ContainerID, head.Name); err != nil {
			log.Error(err.Error())
			return ToCNIError(err)
		}
		if err := refuseOwnNetNS(command, args); err != nil {
			log.Error(err.Error())
			return ToCNIError(err)
		}
		if fn == nil {
			log.Debug("nothing to do")
			return nil
		}
		log.Debug("start")
		if err := fn(&Call{CmdArgs: args, Command: command, Log: log}); err != nil {
			log.Error(err.Error())
			return ToCNIError(err)
		}
		log.Debug("done")
		return nil
	}
}

// refuseOwnNetNS refuses ADD and DEL when CNI_NETNS is the plugin's own
// network namespace (code 8), before anything is done. skel makes the same
// check only after the verb has run, when an ADD has already reserved an
// address or configured the node's own interfaces. CNI_NETNS_OVERRIDE=1
// skips it, as in skel. A path that cannot be checked is left to the verb.
func refuseOwnNetNS(command string, args *skel.CmdArgs) error {
	if (command != "ADD" && command != "DEL") || args.Netns == "" {
		return nil
	}
	if o := strings.ToUpper(args.NetnsOverride); o == "TRUE" || o == "1" {
		return nil
	}
	if same, err := cnins.CheckNetNS(args.Netns); err == nil && same {
		return Errorf(types.ErrInvalidNetNS, "CNI_NETNS %q is the plugin's own network namespace; refusing to configure the node as a pod", args.Netns)
	}
	return nil
}

// confHead is the part of a network config that cniplugin reads itself.
type confHead struct {
	CNIVersion *string `json:"cniVersion"`
	Name       string  `json:"name"`
	LogConf
}

// requireVersion refuses a config with no cniVersion. skel would read it as
// 0.1.0, which hides a typo behind a result format nobody expects.
func (h *confHead) requireVersion() error {
	if h.CNIVersion == nil || *h.CNIVersion == "" {
		return Errorf(ErrIncompatibleCNIVersion, "network config has no cniVersion; set it to one of %v", version.All.SupportedVersions())
	}
	return nil
}

// DecodeConf unmarshals a network config into v, returning a code 6 error
// that names the config on malformed JSON.
func DecodeConf(stdin []byte, v any) error {
	if err := json.Unmarshal(stdin, v); err != nil {
		return Errorf(ErrDecodingFailure, "decode network config: %w", err)
	}
	return nil
}

// ParsePrevResult decodes conf.RawPrevResult into conf.PrevResult (in the
// config's cniVersion) and returns it converted to the current result type.
// It returns nil, nil when there is no prevResult.
func ParsePrevResult(conf *types.PluginConf) (types.Result, error) {
	if conf.RawPrevResult == nil {
		return nil, nil
	}
	if err := version.ParsePrevResult(conf); err != nil {
		return nil, Errorf(ErrDecodingFailure, "decode prevResult: %w", err)
	}
	return conf.PrevResult, nil
}
