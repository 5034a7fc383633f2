package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRefuseForeignPlugins: the reference is installed into an empty
// directory or over an earlier reference install, never over other
// plugins (as `-reference bin` once did to podnet's own build).
func TestRefuseForeignPlugins(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		ok    bool
	}{
		{"empty", nil, true},
		{"older reference install", map[string]string{"bridge": "x", ".stamp": ReferenceModule + "@v1.0.0 [] go1 CGO_ENABLED=0\n"}, true},
		{"podnet build", map[string]string{"bridge": "x", ".stamp": "podnet 18e344b\n"}, false},
		{"plugins, no stamp", map[string]string{"host-local": "x"}, false},
		{"other files only", map[string]string{"README": "x"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for n, v := range c.files {
				if err := os.WriteFile(filepath.Join(dir, n), []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := refuseForeignPlugins(dir)
			if (err == nil) != c.ok {
				t.Fatalf("refuseForeignPlugins = %v, want ok %v", err, c.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Errorf("error does not say what it refuses: %v", err)
			}
		})
	}
}
