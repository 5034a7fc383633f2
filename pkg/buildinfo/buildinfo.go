// Package buildinfo carries the version stamped into every podnet binary at
// link time (make build sets Version with -ldflags -X).
package buildinfo

import "fmt"

// Version is the podnet release, set at link time by
// -X github.com/podnet/podnet/pkg/buildinfo.Version=<version>.
// Binaries built without it (go build, go test) report "dev".
var Version = "dev"

// About is the line a plugin prints on stderr when run with no CNI_COMMAND,
// for example "podnet bridge plugin v0.1.0".
func About(plugin string) string {
	return fmt.Sprintf("podnet %s plugin %s", plugin, Version)
}
