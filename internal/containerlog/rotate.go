package containerlog

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Rotation as the kubelet's container log manager does it
// (pkg/kubelet/logs/container_log_manager.go): a log past its size limit is
// renamed to <log>.<YYYYMMDD-HHMMSS> and the writer told to reopen it; the
// rotated files older than the newest are gzipped, and the oldest removed
// so that at most MaxFiles files (the live one included) remain.
const (
	// RotatedTimeFormat names rotated files, in UTC (the kubelet's
	// timestampFormat).
	RotatedTimeFormat = "20060102-150405"
	compressSuffix    = ".gz"
	tmpSuffix         = ".tmp"
)

// Policy is a container log rotation policy.
type Policy struct {
	// MaxSize is the size past which a log is rotated.
	MaxSize int64
	// MaxFiles is how many files a container's log may have, the live one
	// included; at least 2.
	MaxFiles int
}

// ErrPolicy reports an invalid rotation policy.
var ErrPolicy = errors.New("invalid container log policy")

// Validate checks p as the kubelet checks its flags.
func (p Policy) Validate() error {
	if p.MaxFiles < 2 {
		return fmt.Errorf("%w: max files %d must be at least 2", ErrPolicy, p.MaxFiles)
	}
	if p.MaxSize <= 0 {
		return fmt.Errorf("%w: max size %d must be positive", ErrPolicy, p.MaxSize)
	}
	return nil
}

// NeedsRotation reports whether the live log at path is past the policy's
// size.
func (p Policy) NeedsRotation(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Size() >= p.MaxSize
}

// Rotate rotates the live log at path: it drops leftovers of an earlier
// rotation cut short, removes the oldest rotated files beyond MaxFiles-2,
// compresses the rotated ones, renames the live log to its rotated name
// and calls reopen so that the writer starts a new file. If reopen fails,
// the live log is renamed back and the writer keeps writing it.
func (p Policy) Rotate(ctx context.Context, path string, now time.Time, reopen func(context.Context) error) error {
	if err := p.Validate(); err != nil {
		return err
	}
	rotated, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return err
	}
	if rotated, err = cleanupUnused(rotated); err != nil {
		return err
	}
	if rotated, err = removeExcess(rotated, p.MaxFiles-2); err != nil {
		return err
	}
	for _, r := range rotated {
		if strings.HasSuffix(r, compressSuffix) {
			continue
		}
		if err := compress(r); err != nil {
			return err
		}
	}
	target := path + "." + now.UTC().Format(RotatedTimeFormat)
	if err := os.Rename(path, target); err != nil {
		return fmt.Errorf("rotating container log: %w", err)
	}
	if err := reopen(ctx); err != nil {
		// The writer still writes the renamed file: give it its name back.
		if rerr := os.Rename(target, path); rerr != nil {
			return fmt.Errorf("reopening container log: %w (and renaming it back: %v)", err, rerr)
		}
		return fmt.Errorf("reopening container log: %w", err)
	}
	return nil
}

// Remove removes a log and its rotated files.
func Remove(path string) error {
	rotated, _ := filepath.Glob(globEscape(path) + ".*")
	var errs []error
	for _, p := range append(rotated, path) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cleanupUnused removes temporary files of a compression cut short and
// uncompressed files whose compressed copy exists, returning the rest.
func cleanupUnused(logs []string) ([]string, error) {
	have := map[string]bool{}
	for _, l := range logs {
		have[l] = true
	}
	var kept []string
	for _, l := range logs {
		if strings.HasSuffix(l, tmpSuffix) || (!strings.HasSuffix(l, compressSuffix) && have[l+compressSuffix]) {
			if err := os.Remove(l); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("removing unused container log: %w", err)
			}
			continue
		}
		kept = append(kept, l)
	}
	return kept, nil
}

// removeExcess removes the oldest rotated logs (their names sort by time)
// until at most keep remain, returning the rest, oldest first.
func removeExcess(logs []string, keep int) ([]string, error) {
	sort.Slice(logs, func(i, j int) bool {
		return strings.TrimSuffix(logs[i], compressSuffix) < strings.TrimSuffix(logs[j], compressSuffix)
	})
	for len(logs) > keep && len(logs) > 0 {
		if err := os.Remove(logs[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("removing old container log: %w", err)
		}
		logs = logs[1:]
	}
	return logs, nil
}

// compress gzips path into path.gz (through a temporary file) and removes
// path.
func compress(path string) (err error) {
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	defer in.Close()
	tmp := path + compressSuffix + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	if err := os.Rename(tmp, path+compressSuffix); err != nil {
		return fmt.Errorf("compressing container log: %w", err)
	}
	return os.Remove(path)
}

// globEscape escapes the glob metacharacters of a literal path.
func globEscape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
