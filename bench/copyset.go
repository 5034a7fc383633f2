package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// copySet copies the set's plugin binaries (those of sizedPlugins that
// exist) into dir and returns the set running from there. Others rebuild
// bin/ while a run goes on; the copy keeps every scenario and the size
// table on the same binaries.
func copySet(set PluginSet, dir string) (PluginSet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return set, fmt.Errorf("create %s: %w", dir, err)
	}
	for _, p := range sizedPlugins {
		src := filepath.Join(set.BinDir, p)
		if fi, err := os.Stat(src); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := copyFile(src, filepath.Join(dir, p)); err != nil {
			return set, fmt.Errorf("copy %s plugin %q: %w", set.Name, p, err)
		}
	}
	return PluginSet{Name: set.Name, BinDir: dir}, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
