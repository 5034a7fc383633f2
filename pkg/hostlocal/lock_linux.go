package hostlocal

import (
	"os"
	"syscall"

	pkgflock "github.com/podnet/podnet/pkg/flock"
)

// flock takes (how = LOCK_EX) or drops (LOCK_UN) the advisory lock on f,
// retrying when a signal interrupts the wait. It is the same lock the
// reference takes through go-filemutex, so both plugins exclude each other.
// Equivalent to: `flock <dataDir>/<network>/lock`.
func flock(f *os.File, how int) error { return pkgflock.Retry(f, how) }

// dirStamp identifies the state of a directory: inode, mtime and ctime in
// nanoseconds. Any entry created, removed or renamed in it changes the stamp.
func dirStamp(dir string) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return "", &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return formatStamp(st.Ino, st.Mtim.Nano(), st.Ctim.Nano()), nil
}
