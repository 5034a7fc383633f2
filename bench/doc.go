// Package bench measures podnet's plugins against the reference plugins
// (containernetworking/plugins v1.9.1), side by side in one run, as ratios.
//
// Both plugin sets are driven through libcni exactly as containerd drives
// them: exec of the binaries on a CNI_PATH, a private result cache, prevResult
// chaining, capability args and kubelet-style CNI_ARGS. Each set gets its own
// throwaway node network namespace, which is the plugins' current namespace,
// with its own dataDir and cache dir, so the two never share state; pods are
// namespaces of their own. Operations are interleaved pod by pod (ours, then
// reference, alternating who goes first) so both sets share the machine's
// noise, and every figure is reported as a ratio ours/reference.
//
// Namespaces are named "pnb-<pid>-<n>-<role>" and all deleted at the end,
// also after a failure or SIGINT/SIGTERM; ones left by a killed run are swept
// by the next one. After every scenario the nodes are checked for leftovers
// (links, addresses, routes, netfilter rules, IPAM reservations, libcni cache
// files, interfaces in the pods); any leftover is a failure.
//
// cmd/podnet-bench is the command; `sudo make bench` runs it.
package bench
