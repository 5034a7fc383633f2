package netfilter

// defaultMasqLockPath serializes podnet's iptables masquerade writers on a
// node. (nftables writes are idempotent and need no lock.)
const defaultMasqLockPath = "/run/podnet/iptables-masquerade.lock"

// lockFile takes an exclusive flock on path, creating it (and its
// directory) if needed, and returns the function that releases it. An empty
// path locks nothing.
func lockFile(path string) (unlock func(), err error) { return hpLock(path, true) }
