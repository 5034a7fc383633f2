// Package integration holds the tests that run the built plugin binaries
// (make build) the way a runtime does: through libcni and through cnitool,
// in throwaway node and pod network namespaces. Run them with
// `sudo make test-integration`.
package integration
