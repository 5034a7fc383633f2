package bench

import (
	"context"
	"debug/elf"
	"fmt"
	"path/filepath"
)

// sizedPlugins are the binaries whose sizes are compared; vxlan has no
// reference counterpart.
var sizedPlugins = []string{"bridge", "host-local", "portmap", "loopback", "vxlan"}

// sizesScenario compares binary sizes. Both sets must be built the same way
// (CGO_ENABLED=0, -trimpath, -ldflags "-s -w") for the ratio to mean
// anything; make build and make bench-reference do that.
func sizesScenario() scenario {
	return scenario{
		name: "sizes",
		describe: func(Options) string {
			return "binary sizes, both sets static and stripped (CGO_ENABLED=0 -trimpath -ldflags \"-s -w\")"
		},
		run: func(_ context.Context, e *env, res *Result) error {
			tab := Table{Title: "binary size", Unit: "bytes", Columns: [2]string{"ours", "reference"}}
			for _, p := range sizedPlugins {
				var o, r Summary
				if s, err := e.opts.Ours.Size(p); err == nil {
					o = Value(float64(s))
				}
				if s, err := e.opts.Reference.Size(p); err == nil {
					r = Value(float64(s))
				}
				if o.N == 0 && r.N == 0 {
					continue
				}
				tab.Rows = append(tab.Rows, newRow(p+unstripped(e.opts.Ours, p)+unstripped(e.opts.Reference, p), o, r))
			}
			if len(tab.Rows) == 0 {
				return fmt.Errorf("no plugin binary found in %s or %s", e.opts.Ours.BinDir, e.opts.Reference.BinDir)
			}
			res.Tables = []Table{tab}
			return nil
		},
	}
}

// unstripped returns a note for the row label when the set's binary still
// has its symbol table (not built with -ldflags "-s -w", so its size does
// not compare), else "".
func unstripped(set PluginSet, plugin string) string {
	f, err := elf.Open(filepath.Join(set.BinDir, plugin))
	if err != nil {
		return ""
	}
	defer f.Close()
	if f.Section(".symtab") == nil {
		return ""
	}
	return fmt.Sprintf(" (%s: not stripped)", set.Name)
}
