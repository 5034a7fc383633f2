package bench

import (
	"fmt"
	"os"
	"path/filepath"
)

// PluginSet is one set of plugin binaries under test: a CNI_PATH directory.
type PluginSet struct {
	// Name labels the set in reports: "ours" or "reference".
	Name string
	// BinDir is the CNI_PATH the set's plugins run from.
	BinDir string
}

// Has reports whether every named binary is in the set.
func (s PluginSet) Has(plugins ...string) bool {
	return s.Missing(plugins...) == nil
}

// Missing returns an error naming the binaries absent from the set, or nil.
func (s PluginSet) Missing(plugins ...string) error {
	var missing []string
	for _, p := range plugins {
		if fi, err := os.Stat(filepath.Join(s.BinDir, p)); err != nil || fi.IsDir() {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s plugins %v not found in %s", s.Name, missing, s.BinDir)
}

// Size returns the size in bytes of one binary of the set.
func (s PluginSet) Size(plugin string) (int64, error) {
	fi, err := os.Stat(filepath.Join(s.BinDir, plugin))
	if err != nil {
		return 0, fmt.Errorf("stat %s plugin %q: %w", s.Name, plugin, err)
	}
	return fi.Size(), nil
}
