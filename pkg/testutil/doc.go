// Package testutil is the test harness every podnet test shares.
//
// It never touches the host's own network: the plugins run with a throwaway
// "node" network namespace as their current namespace, pods are namespaces of
// their own, the libcni cache and IPAM dataDirs are temporary directories, and
// everything is removed in t.Cleanup, which also runs after a failure or a
// panic. Namespaces are named "pnt-<pid>-<n>-<role>"; ones left by a test
// binary that was killed are swept by the next run (their pid is gone).
//
// Tiers: unit tests use nothing here but fakes. Privileged tests
// (TestPrivileged...) call RequireRoot and work in a NewNetNS. Integration
// tests drive the built binaries (BinDir) through libcni (Runtime) or cnitool
// (CNITool), single-node (NewNode) or multi-node (NewCluster).
package testutil
