// Package cniplugin turns a plugin's verb functions into a CNI binary.
//
// It is the dispatcher every podnet plugin shares, in place of the
// upstream skel: the same environment checks, version checks and error
// codes, in one decode of the config instead of skel's three, and without
// skel's regular expressions, whose compilation alone ran at every start.
// It adds a logger configured from the logFile/logLevel keys, errors
// converted to CNI error JSON with the right code and the full context in
// the message, each error also written once to stderr in plain words, a
// cap on the size of stdin, and the checks skel leaves out (a config with
// no cniVersion, over-long names, CNI_NETNS being the plugin's own
// namespace, checked before the verb runs rather than after).
package cniplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"unicode"

	cnins "github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/podnet/podnet/pkg/buildinfo"
)

// MaxConfigSize bounds the network config read from stdin. Real configs are a
// few KiB; a larger input is refused before anything is parsed.
const MaxConfigSize = 1 << 20

// CmdArgs are the arguments of one call: the CNI_* environment and the
// network config from stdin. The fields are those of skel.CmdArgs.
type CmdArgs struct {
	ContainerID   string
	Netns         string
	IfName        string
	Args          string
	Path          string
	NetnsOverride string
	StdinData     []byte
}

// Call is one invocation of a verb: the arguments plus the command name
// and a logger that carries plugin, command, container ID, ifname and netns.
type Call struct {
	*CmdArgs
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
	os.Exit(run(p, os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

func run(p Plugin, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if p.Versions == nil {
		p.Versions = version.All
	}
	cmd := getenv("CNI_COMMAND")
	if cmd == "" {
		if err := refuseConfigWithoutCommand(stdin); err != nil {
			return fail(stdout, stderr, p.Name, err)
		}
	}
	// The config is read and its head decoded once, here, for every verb
	// but VERSION: for the checks below, the logger and the verb.
	var (
		data    []byte
		head    confHead
		headErr error
	)
	if cmd != "" && cmd != "VERSION" {
		var err error
		if data, err = io.ReadAll(io.LimitReader(stdin, MaxConfigSize+1)); err != nil {
			return fail(stdout, stderr, p.Name, Errorf(ErrIOFailure, "read network config from stdin: %w", err))
		}
		if len(data) > MaxConfigSize {
			return fail(stdout, stderr, p.Name, Errorf(ErrIOFailure, "read network config from stdin: larger than %d bytes", MaxConfigSize))
		}
		// A config without cniVersion is refused first, before the
		// version check would read it as "0.1.0" for a plugin that lacks
		// 0.1.0. Malformed JSON is reported after the environment, as
		// skel does.
		if headErr = json.Unmarshal(data, &head); headErr == nil {
			if err := head.requireVersion(); err != nil {
				return fail(stdout, stderr, p.Name, err)
			}
		}
	}
	args, envErr := argsFromEnv(cmd, getenv)
	if envErr != nil {
		if cmd == "" && envErr.Code == types.ErrInvalidEnvironmentVariables {
			// A person at a shell: the version lines, exit 0.
			fmt.Fprintln(stderr, buildinfo.About(p.Name))
			fmt.Fprintf(stderr, "CNI protocol versions supported: %s\n", strings.Join(p.Versions.SupportedVersions(), ", "))
			return 0
		}
		return fail(stdout, stderr, p.Name, envErr)
	}
	if cmd == "VERSION" {
		if err := p.Versions.Encode(stdout); err != nil {
			return fail(stdout, stderr, p.Name, types.NewError(types.ErrIOFailure, err.Error(), ""))
		}
		return 0
	}
	args.StdinData = data
	if e := checkHead(headErr, &head); e != nil {
		return fail(stdout, stderr, p.Name, e)
	}
	var fn func(*Call) error
	switch cmd {
	case "ADD":
		fn = p.Add
	case "DEL":
		fn = p.Del
	case "CHECK":
		fn = p.Check
	case "GC":
		fn = p.GC
	case "STATUS":
		fn = p.Status
	default:
		return fail(stdout, stderr, p.Name, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("unknown CNI_COMMAND: %v", cmd), ""))
	}
	if e := checkVersion(cmd, *head.CNIVersion, p.Versions); e != nil {
		return fail(stdout, stderr, p.Name, e)
	}
	if e := call(p.Name, cmd, &head, fn, args, stderr); e != nil {
		return fail(stdout, stderr, p.Name, e)
	}
	return 0
}

// envVar is one CNI_* variable: the commands that require it, and the
// check of a value given to one of them.
type envVar struct {
	name     string
	dst      func(*CmdArgs) *string
	required []string
	check    func(string) *types.Error
}

// envVars are read in this order, which decides the order of the names
// in a "missing" error, as in skel.
var envVars = []envVar{
	{"CNI_CONTAINERID", func(a *CmdArgs) *string { return &a.ContainerID }, []string{"ADD", "CHECK", "DEL"}, checkContainerID},
	{"CNI_NETNS", func(a *CmdArgs) *string { return &a.Netns }, []string{"ADD", "CHECK"}, nil},
	{"CNI_IFNAME", func(a *CmdArgs) *string { return &a.IfName }, []string{"ADD", "CHECK", "DEL"}, checkIfName},
	{"CNI_ARGS", func(a *CmdArgs) *string { return &a.Args }, nil, nil},
	{"CNI_PATH", func(a *CmdArgs) *string { return &a.Path }, []string{"ADD", "CHECK", "DEL", "GC", "STATUS"}, nil},
	{"CNI_NETNS_OVERRIDE", func(a *CmdArgs) *string { return &a.NetnsOverride }, nil, nil},
}

// argsFromEnv reads the CNI_* variables: code 4 naming every variable
// cmd requires that is empty (CNI_COMMAND among them when it is), or the
// first invalid value.
func argsFromEnv(cmd string, getenv func(string) string) (*CmdArgs, *types.Error) {
	args := &CmdArgs{}
	var missing []string
	if cmd == "" {
		missing = append(missing, "CNI_COMMAND")
	}
	for _, v := range envVars {
		val := getenv(v.name)
		*v.dst(args) = val
		required := false
		for _, c := range v.required {
			required = required || c == cmd
		}
		switch {
		case val == "" && required:
			missing = append(missing, v.name)
		case val != "" && required && v.check != nil:
			if e := v.check(val); e != nil {
				return nil, e
			}
		}
	}
	if len(missing) > 0 {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("required env variables [%s] missing", strings.Join(missing, ",")), "")
	}
	return args, nil
}

// checkContainerID applies libcni's rule: a letter or digit, then
// letters, digits, '_', '.' and '-'.
func checkContainerID(id string) *types.Error {
	if !validName(id) {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "invalid characters in containerID", id)
	}
	return nil
}

// checkIfName applies the kernel's rules for a link name, as skel does.
func checkIfName(name string) *types.Error {
	switch {
	case len(name) > 15:
		return types.NewError(types.ErrInvalidEnvironmentVariables, "interface name is too long", "interface name should be less than 16 characters")
	case name == "." || name == "..":
		return types.NewError(types.ErrInvalidEnvironmentVariables, "interface name is . or ..", "")
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }):
		return types.NewError(types.ErrInvalidEnvironmentVariables, "interface name contains / or : or whitespace characters", "")
	}
	return nil
}

// validName reports whether s is a non-empty name that keeps libcni's
// rule for container IDs and network names (see BadNameByte).
func validName(s string) bool { return s != "" && BadNameByte(s) < 0 }

// BadNameByte returns the index of the first byte of s that breaks
// libcni's rule for container IDs and network names, a letter or digit
// followed by letters, digits, '_', '.' and '-' (ASCII only), or -1 when
// none does.
func BadNameByte(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return i
		}
	}
	return -1
}

// checkHead judges the decoded head as skel judges a config: code 6 when
// it is not JSON, code 7 without a valid network name.
func checkHead(decodeErr error, head *confHead) *types.Error {
	switch {
	case decodeErr != nil:
		return types.NewError(types.ErrDecodingFailure, "error unmarshall network config: "+describeDecodeError(decodeErr), "")
	case head.Name == "":
		return types.NewError(types.ErrInvalidNetworkConfig, "missing network name", "")
	case !validName(head.Name):
		return types.NewError(types.ErrInvalidNetworkConfig, "invalid characters found in network name", head.Name)
	}
	return nil
}

// describeDecodeError words a JSON type error by the config's keys, not
// by the Go types it was decoded into; other errors keep their words.
func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	want := "a " + te.Type.Kind().String()
	switch te.Type.Kind() {
	case reflect.Struct, reflect.Map:
		want = "an object"
	case reflect.Slice, reflect.Array:
		want = "an array"
	case reflect.Pointer:
		want = "a " + te.Type.Elem().Kind().String()
	}
	if te.Field == "" {
		return fmt.Sprintf("the config is %s %s, want %s", article(te.Value), te.Value, want)
	}
	return fmt.Sprintf("key %q is %s %s, want %s", te.Field, article(te.Value), te.Value, want)
}

// article is "an" before a vowel, else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// checkVersion applies the spec's version rules to cmd: the plugin must
// support the config's version, CHECK needs 0.4.0 and GC and STATUS 1.1.0,
// and the plugin must support a version at least the config's for them.
func checkVersion(cmd, configVersion string, info version.PluginInfo) *types.Error {
	if minVersion := map[string]string{"CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}[cmd]; minVersion != "" {
		ok, err := version.GreaterThanOrEqualTo(configVersion, minVersion)
		if err != nil {
			return types.NewError(types.ErrDecodingFailure, err.Error(), "")
		}
		if !ok {
			return types.NewError(types.ErrIncompatibleCNIVersion, "config version does not allow "+cmd, "")
		}
		supported := false
		for _, v := range info.SupportedVersions() {
			ok, err := version.GreaterThanOrEqualTo(v, configVersion)
			if err != nil {
				return types.NewError(types.ErrDecodingFailure, err.Error(), "")
			}
			if ok {
				supported = true
				break
			}
		}
		if !supported {
			return types.NewError(types.ErrIncompatibleCNIVersion, "plugin version does not allow "+cmd, "")
		}
	}
	if e := (&version.Reconciler{}).Check(configVersion, info); e != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions", e.Details())
	}
	return nil
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

// call runs a verb handler: it adds the logger, refuses an over-long
// network name or container ID and CNI_NETNS being the plugin's own
// namespace, and converts the returned error to a *types.Error.
func call(plugin, command string, head *confHead, fn func(*Call) error, args *CmdArgs, stderr io.Writer) *types.Error {
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
	log, closer := openLog(head.LogConf, attrs, stderr)
	defer closer.Close()
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

// refuseOwnNetNS refuses ADD and DEL when CNI_NETNS is the plugin's own
// network namespace (code 8), before anything is done. skel makes the same
// check only after the verb has run, when an ADD has already reserved an
// address or configured the node's own interfaces; here it is made once,
// before. CNI_NETNS_OVERRIDE=1 or true skips it, as in skel. A path that
// cannot be checked is left to the verb.
func refuseOwnNetNS(command string, args *CmdArgs) error {
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

// CurrentPrevResult is ParsePrevResult with the result also converted to
// the current result type (code 6 when it cannot be). It returns nil, nil,
// nil when there is no prevResult.
func CurrentPrevResult(conf *types.PluginConf) (types.Result, *current.Result, error) {
	prev, err := ParsePrevResult(conf)
	if err != nil || prev == nil {
		return nil, nil, err
	}
	res, err := current.NewResultFromResult(prev)
	if err != nil {
		return nil, nil, Errorf(ErrDecodingFailure, "convert prevResult to %s: %w", current.ImplementedSpecVersion, err)
	}
	return prev, res, nil
}
