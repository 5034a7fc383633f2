package hostlocal

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// DefaultDataDir is the store root when the config sets no dataDir.
const DefaultDataDir = "/var/lib/cni/networks"

// Names inside <dataDir>/<network>/. The first two are the reference's.
const (
	lockName     = "lock"
	lastIPPrefix = "last_reserved_ip."
	metaName     = ".podnet" // our own state; the reference never writes here
	indexName    = "index"   // .podnet/index/: per-attachment files of an earlier version, removed
	tmpName      = "tmp"     // .podnet/tmp: temp files, garbage after a crash
	stampName    = "stamp"   // .podnet/stamp: dirStamp when the index was last exact
)

// DiskStore is the Store of one network under <dataDir>/<network>/.
//
// Reservations use the reference layout and locking, so the reference
// plugin and this one can share a directory. For O(1) lookup and release it
// also keeps an attachment index, a hash table in .podnet/index.tbl
// (see disk_table.go). The per-IP
// files are the truth; the index is trusted only while .podnet/stamp
// matches the directory's inode, mtime and ctime as this package last left
// it. Anything else that adds or removes a reservation (the reference
// plugin, an operator, a crash of this plugin between the two writes)
// changes the directory's mtime or leaves a spoiled stamp, and the next Lock
// rebuilds the index from the per-IP files with one scan.
type DiskStore struct {
	dir, meta, legacyIndex, tmp string
	lockFile                    *os.File
	log                         *slog.Logger
	// tbl is the index table, opened on first use in a lock hold.
	tbl *indexTable

	locked bool
	// dirty: this lock hold changed the directory; the stamp was spoiled
	// and Unlock writes a new one if the index is still exact (consistent).
	dirty, consistent bool
	// temps are reservation temp files of this lock hold, by attachment.
	temps map[Attachment]string
}

var _ Store = (*DiskStore)(nil)

// OpenDisk opens (creating as needed, directories 0700) the store of
// network under dataDir. The network name is validated so that the store
// never reaches outside <dataDir>/<network>/. A nil log discards.
func OpenDisk(dataDir, network string, log *slog.Logger) (*DiskStore, error) {
	if err := ValidateNetworkName(network); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Join(filepath.Clean(dataDir), network)
	s := &DiskStore{
		dir:         dir,
		meta:        filepath.Join(dir, metaName),
		legacyIndex: filepath.Join(dir, metaName, indexName),
		tmp:         filepath.Join(dir, metaName, tmpName),
		log:         log,
		temps:       map[Attachment]string{},
	}
	for _, d := range []string{s.dir, s.meta, s.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create store directory: %w", err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDONLY|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store lock: %w", err)
	}
	s.lockFile = f
	return s, nil
}

// Dir is <dataDir>/<network>.
func (s *DiskStore) Dir() string { return s.dir }

// Lock is part of Store. After taking the flock it checks the stamp and
// rebuilds the index if anything else touched the directory.
func (s *DiskStore) Lock() error {
	if err := flock(s.lockFile, syscall.LOCK_EX); err != nil {
		return fmt.Errorf("lock %s: %w", s.lockFile.Name(), err)
	}
	s.locked, s.dirty, s.consistent = true, false, true
	want, _ := os.ReadFile(filepath.Join(s.meta, stampName))
	have, err := dirStamp(s.dir)
	if err == nil && string(want) == have {
		return nil
	}
	if len(want) == 0 || strings.HasPrefix(string(want), spoiledStamp) {
		s.log.Info("no valid index stamp; rebuilding the index", "dir", s.dir)
	} else {
		s.log.Info("store changed outside podnet; rebuilding the index", "dir", s.dir)
	}
	if err := s.rebuild(); err != nil {
		s.consistent = false
		_ = s.Unlock()
		return fmt.Errorf("rebuild index of %s: %w", s.dir, err)
	}
	return nil
}

// Unlock is part of Store. It removes this hold's temp files, writes the
// stamp when the index is exact, and drops the flock.
func (s *DiskStore) Unlock() error {
	if !s.locked {
		return nil
	}
	var errs []error
	if err := s.closeTable(); err != nil {
		errs = append(errs, fmt.Errorf("close index: %w", err))
	}
	for a, tmp := range s.temps {
		if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(s.temps, a)
	}
	if s.dirty && s.consistent {
		if err := s.writeStamp(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := flock(s.lockFile, syscall.LOCK_UN); err != nil {
		errs = append(errs, fmt.Errorf("unlock %s: %w", s.lockFile.Name(), err))
	}
	s.locked = false
	return errors.Join(errs...)
}

// Close is part of Store.
func (s *DiskStore) Close() error { return s.lockFile.Close() }

// markDirty spoils the stamp before the first change of a lock hold, so
// a crash before Unlock leaves no valid stamp and forces a rebuild. The
// stamp is spoiled (its first byte overwritten) and rewritten in place
// rather than removed and recreated: that spares an inode allocation on
// every ADD and DEL.
func (s *DiskStore) markDirty() error {
	if s.dirty {
		return nil
	}
	if err := spoilStamp(filepath.Join(s.meta, stampName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("invalidate index stamp: %w", err)
	}
	s.dirty = true
	return nil
}

// distrust records that the index may no longer match the reservation
// files: the stamp is spoiled (markDirty) and Unlock writes none, so the next
// Lock rebuilds the index.
func (s *DiskStore) distrust() {
	s.consistent = false
	if err := s.markDirty(); err != nil {
		s.log.Warn("index may be out of date but its stamp stays", "error", err)
	}
}

func (s *DiskStore) writeStamp() error {
	st, err := dirStamp(s.dir)
	if err != nil {
		return err
	}
	if err := overwriteFile(filepath.Join(s.meta, stampName), []byte(st), true); err != nil {
		return fmt.Errorf("write index stamp: %w", err)
	}
	return nil
}

// spoilStamp makes the stamp at path match no directory state, in place.
func spoilStamp(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(spoiledStamp), 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// spoiledStamp overwrites the start of a stamp: no formatStamp output
// starts with it.
const spoiledStamp = "-"

func formatStamp(ino uint64, mtime, ctime int64) string {
	// v2: the index is index.tbl; a v1 stamp (per-attachment index files)
	// never matches, so the first Lock after an upgrade rebuilds.
	return fmt.Sprintf("v2 %d %d %d\n", ino, mtime, ctime)
}
