// Package overlay programs a daemonless L3 VXLAN overlay, the cross-node
// part of the Kubernetes network model: every node owns one pod subnet of a
// cluster network, and reaches every other node's subnet through one VXLAN
// device per overlay.
//
// The kernel programming follows flannel's vxlan backend. For each remote
// peer (vtepIP, subnet) the node holds a permanent neighbor entry (the
// peer subnet's first address -> the peer's VTEP MAC), a permanent FDB
// entry (that MAC -> the peer's vtepIP) and a route `subnet via <first
// address> dev <vxlan> onlink`. The device holds the local subnet's first
// address as /32 (/128), has learning off and no multicast group. VTEP MACs
// are derived from VTEP IPs (VTEPMAC), so a peer list needs nothing but
// addresses and subnets.
//
// The package works as plan, then apply: Desired turns a validated Config
// and the resolved Underlay into a State; Diff compares it with the State
// read from the kernel and returns the Ops (iproute2-style when printed)
// that converge it; a Kernel applies them. Reconciler ties this together
// with a lock, rollback of a failed apply, and masquerade.
package overlay
