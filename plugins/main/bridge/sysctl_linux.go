package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// procSys is where sysctls are read and written; a test may point it
// elsewhere.
var procSys = "/proc/sys"

// ensureSysctl sets a /proc/sys key (as "net/ipv4/ip_forward") to value,
// writing only when it differs: a read is cheaper than a write, and an
// unchanged key sends no notification. It acts in the network namespace of
// the calling thread.
func ensureSysctl(key, value string) error {
	path := filepath.Join(procSys, key)
	cur, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read sysctl %s: %w", key, err)
	}
	if string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// writeSysctl sets a /proc/sys key without reading it first, for keys of
// a link this call just created.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(filepath.Join(procSys, key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
