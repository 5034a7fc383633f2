// Package hostlocal is the host-local IPAM engine: range and range-set
// validation, the round-robin allocator, and the on-disk reservation store.
//
// The store keeps the reference plugin's layout under <dataDir>/<network>/
// (one file per reserved IP holding "<containerID>\r\n<ifname>",
// last_reserved_ip.<set>, a flock'd lock file), so a node can switch between
// the reference plugin and this one in place. Beside those files it keeps a
// per-attachment index in <dataDir>/<network>/.podnet/ that makes release
// O(1); the per-IP files stay the source of truth and the index is rebuilt
// from them whenever anything but this package may have touched the
// directory (see DiskStore).
package hostlocal
