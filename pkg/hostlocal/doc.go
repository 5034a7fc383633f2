// Package hostlocal is the host-local IPAM engine: range and range-set
// validation, the round-robin allocator, the on-disk reservation store, and
// the CNI verbs themselves (Add, Del, Check, Status, GC over a Request).
// The host-local binary is a thin main over those verbs; the bridge plugin
// calls them in its own process instead of exec'ing the binary, with the
// same files, locking, results and errors.
//
// The store keeps the reference plugin's layout under <dataDir>/<network>/
// (one file per reserved IP holding "<containerID>\r\n<ifname>",
// last_reserved_ip.<set>, a flock'd lock file), so a node can switch between
// the reference plugin and this one in place. Beside those files it keeps an
// attachment index (a hash table in <dataDir>/<network>/.podnet/index.tbl)
// that makes release O(1); the per-IP files stay the source of truth and the index is rebuilt
// from them whenever anything but this package may have touched the
// directory (see DiskStore).
package hostlocal
