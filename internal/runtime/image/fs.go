package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// tmpPrefix starts the name of every temporary file or directory in the
// store; readers skip such entries.
const tmpPrefix = ".tmp-"

// staleTmpAge is how old a temporary entry must be before NewStore deletes
// it; younger ones may belong to another process still writing them.
const staleTmpAge = 24 * time.Hour

// writeFileAtomic writes data to path through a synced temporary file in the
// same directory and a rename, so readers see the old or the new content.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), tmpPrefix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// renameNoReplace moves dir to dst unless dst exists. It reports whether the
// move happened; if dst already existed, dir is left in place.
func renameNoReplace(dir, dst string) (bool, error) {
	err := unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
		// The filesystem lacks RENAME_NOREPLACE; a plain rename still
		// refuses to replace a non-empty directory.
		err = os.Rename(dir, dst)
	}
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.ENOTEMPTY):
		return false, nil
	default:
		return false, fmt.Errorf("renaming %s: %w", dir, err)
	}
}

// lock takes the store-wide exclusive lock and returns its release function.
// flock locks belong to the open file description, so the lock also orders
// goroutines of one process.
func (s *Store) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening store lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking store: %w", err)
	}
	return func() { f.Close() }, nil
}

// removeStaleTmp deletes temporary entries left in dir by crashed writers.
func removeStaleTmp(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && (time.Since(info.ModTime()) > staleTmpAge || strings.HasPrefix(e.Name(), removingPrefix)) {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
