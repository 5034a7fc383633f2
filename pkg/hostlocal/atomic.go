package hostlocal

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// createTemp creates a new 0600 file in dir with a random name starting
// with prefix, writes data, and optionally fsyncs it. The caller removes or
// renames it.
func createTemp(dir, prefix string, data []byte, sync bool) (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("random temp name: %w", err)
	}
	path := filepath.Join(dir, prefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// overwriteFile writes data over path in place: the file keeps its inode
// and its data block (written at offset 0, then cut to length, never
// truncated to zero first), and no directory entry is created or renamed.
// Creating an inode, or freeing and reallocating a block, is the dearest
// step of an ADD on a busy ext4; this costs neither. A crash mid-write can
// leave old and new bytes mixed, so it is only for files whose readers
// tolerate that: the round-robin cursor (an unreadable or stale cursor
// only moves where the next walk starts) and the index stamp (anything but
// an exact match means rebuild). The file is created 0600 when missing,
// never through a symlink; with create false a missing file stays missing.
func overwriteFile(path string, data []byte, create bool) error {
	flags := os.O_WRONLY | syscall.O_NOFOLLOW
	if create {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
