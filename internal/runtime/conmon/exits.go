package conmon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Exit is one container exit as conmon recorded it.
type Exit struct {
	ID string
	// Code is the exit status, 128+signal for a signal death.
	Code int32
	At   time.Time
	// OOMKilled: the kernel's OOM killer ended the container.
	OOMKilled bool
}

// ReadExit reads the exit file of container id. ok is false when the
// container has not exited (no file yet).
func (m *Monitor) ReadExit(id, bundle string) (Exit, bool, error) {
	path := filepath.Join(m.ExitDir, id)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Exit{}, false, nil
	}
	if err != nil {
		return Exit{}, false, err
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return Exit{}, false, fmt.Errorf("exit file %s: %w", path, err)
	}
	e := Exit{ID: id, Code: int32(code)}
	if fi, err := os.Stat(path); err == nil {
		e.At = fi.ModTime()
	}
	if _, err := os.Stat(filepath.Join(bundle, "oom")); err == nil {
		e.OOMKilled = true
	}
	return e, true, nil
}

// WatchExits calls fn with the ID of each container whose exit file
// appears, until ctx ends. Files present before the call are not reported:
// callers read those with ReadExit when they load their state. fn must
// tolerate being called more than once for an ID.
func (m *Monitor) WatchExits(ctx context.Context, fn func(id string)) error {
	if err := os.MkdirAll(m.ExitDir, 0o755); err != nil {
		return err
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching exits: %w", err)
	}
	if err := w.Add(m.ExitDir); err != nil {
		w.Close()
		return fmt.Errorf("watching %s: %w", m.ExitDir, err)
	}
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				// conmon writes a temporary file and renames it into
				// place: the final name shows up as Create (or Rename).
				if ev.Op&(fsnotify.Create|fsnotify.Write) != 0 && !strings.Contains(filepath.Base(ev.Name), ".") {
					fn(filepath.Base(ev.Name))
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				// Most likely the event queue overflowed: report every
				// exit file, since handling one twice is harmless and
				// missing one leaves a container "running" for ever.
				entries, _ := os.ReadDir(m.ExitDir)
				for _, e := range entries {
					if !strings.Contains(e.Name(), ".") {
						fn(e.Name())
					}
				}
			}
		}
	}()
	return nil
}
