package netfilter

import "github.com/podnet/podnet/pkg/flock"

// hpLock takes a flock on path: shared for ADD and DEL, which only touch
// their own pod's state and may run together, exclusive for GC and for
// creating iptables scaffolding, which must not interleave with them (GC
// removing a table an ADD is filling). It creates the file and its
// directory if needed and returns the release function. An empty path
// locks nothing.
func hpLock(path string, exclusive bool) (unlock func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	return flock.Lock(path, exclusive)
}
