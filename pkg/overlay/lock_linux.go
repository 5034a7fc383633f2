package overlay

import "github.com/podnet/podnet/pkg/flock"

// LockFile takes an exclusive flock on path, creating the file (0600) and
// its directory (0700) when missing, and returns the release. It blocks
// while another process holds the lock.
func LockFile(path string) (func(), error) { return flock.Lock(path, true) }
