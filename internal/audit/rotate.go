package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// backupTimeFormat names rotated files as lumberjack (kube-apiserver's
// rotation library) does: audit-2006-01-02T15-04-05.000.log for audit.log.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// Rotation is kube-apiserver's --audit-log-maxsize, --audit-log-maxbackup
// and --audit-log-maxage.
type Rotation struct {
	// MaxSize is the size in megabytes at which the file is rotated
	// (0: 100, lumberjack's default).
	MaxSize int
	// MaxBackups is how many rotated files are kept (0: all).
	MaxBackups int
	// MaxAge is how many days rotated files are kept, by the time in their
	// name (0: no limit).
	MaxAge int
}

// Validate refuses negative values, with kube-apiserver's messages.
func (r Rotation) Validate() error {
	for _, f := range []struct {
		flag string
		v    int
	}{{"--audit-log-maxage", r.MaxAge}, {"--audit-log-maxbackup", r.MaxBackups}, {"--audit-log-maxsize", r.MaxSize}} {
		if f.v < 0 {
			return fmt.Errorf("%s %v can't be a negative number", f.flag, f.v)
		}
	}
	return nil
}

// rotatingFile is a file that is renamed to a timestamped backup when the
// next write would take it past the size limit; the oldest backups beyond
// MaxBackups or MaxAge are removed then.
type rotatingFile struct {
	path string
	rot  Rotation
	now  func() time.Time
	// onPruneError reports backups that could not be removed.
	onPruneError func(error)

	mu   sync.Mutex
	f    *os.File
	size int64
}

// openRotating opens (appending) or creates path, its directory too, as
// kube-apiserver does: the directory 0700, the file 0600.
func openRotating(path string, rot Rotation, now func() time.Time) (*rotatingFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the audit log directory: %w", err)
	}
	rf := &rotatingFile{path: path, rot: rot, now: now}
	if err := rf.open(); err != nil {
		return nil, err
	}
	return rf, nil
}

func (rf *rotatingFile) open() error {
	f, err := os.OpenFile(rf.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening the audit log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening the audit log: %w", err)
	}
	rf.f, rf.size = f, st.Size()
	return nil
}

func (rf *rotatingFile) maxBytes() int64 {
	mb := rf.rot.MaxSize
	if mb == 0 {
		mb = 100
	}
	return int64(mb) * 1024 * 1024
}

// Write appends p, rotating first when p would not fit. Unlike
// lumberjack, a single write larger than the limit is written (to a
// fresh file) rather than refused: an audit event is not dropped.
func (rf *rotatingFile) Write(p []byte) (int, error) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.f == nil {
		return 0, os.ErrClosed
	}
	if rf.size > 0 && rf.size+int64(len(p)) > rf.maxBytes() {
		if err := rf.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := rf.f.Write(p)
	rf.size += int64(n)
	return n, err
}

// rotate renames the current file to its backup name, opens a new one and
// removes the backups that are too many or too old.
func (rf *rotatingFile) rotate() error {
	if err := rf.f.Close(); err != nil {
		return fmt.Errorf("rotating the audit log: %w", err)
	}
	rf.f = nil
	now := rf.now().UTC()
	if err := os.Rename(rf.path, rf.backupName(now)); err != nil {
		return fmt.Errorf("rotating the audit log: %w", err)
	}
	if err := rf.open(); err != nil {
		return err
	}
	if err := rf.prune(now); err != nil && rf.onPruneError != nil {
		// The new file is open: the event is still written.
		rf.onPruneError(err)
	}
	return nil
}

func (rf *rotatingFile) backupName(t time.Time) string {
	dir, base := filepath.Split(rf.path)
	ext := filepath.Ext(base)
	return filepath.Join(dir, strings.TrimSuffix(base, ext)+"-"+t.Format(backupTimeFormat)+ext)
}

// prune removes backups beyond MaxBackups (oldest first) and older than
// MaxAge days.
func (rf *rotatingFile) prune(now time.Time) error {
	if rf.rot.MaxBackups == 0 && rf.rot.MaxAge == 0 {
		return nil
	}
	dir, base := filepath.Split(rf.path)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return fmt.Errorf("pruning audit log backups: %w", err)
	}
	type backup struct {
		name string
		t    time.Time
	}
	var backups []backup
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		stamp, ok = strings.CutSuffix(stamp, ext)
		if !ok {
			continue
		}
		if t, err := time.Parse(backupTimeFormat, stamp); err == nil {
			backups = append(backups, backup{e.Name(), t})
		}
	}
	// Newest first.
	slices.SortFunc(backups, func(a, b backup) int { return b.t.Compare(a.t) })
	var errs []error
	for i, b := range backups {
		tooMany := rf.rot.MaxBackups > 0 && i >= rf.rot.MaxBackups
		tooOld := rf.rot.MaxAge > 0 && now.Sub(b.t) > time.Duration(rf.rot.MaxAge)*24*time.Hour
		if tooMany || tooOld {
			if err := os.Remove(filepath.Join(dir, b.name)); err != nil && !os.IsNotExist(err) {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pruning audit log backups: %v", errs)
	}
	return nil
}

// Close closes the file.
func (rf *rotatingFile) Close() error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.f == nil {
		return nil
	}
	err := rf.f.Close()
	rf.f = nil
	return err
}
