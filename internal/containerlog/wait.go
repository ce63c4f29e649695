package containerlog

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// pollInterval bounds how long a follower sleeps without a file event; it
// is the only wake-up when inotify is unavailable, and it catches rotations
// the watch misses.
const pollInterval = 250 * time.Millisecond

// waiter wakes a follower when the log file may have changed.
type waiter struct {
	base    string
	watcher *fsnotify.Watcher // nil when watching failed: poll only
	ticker  *time.Ticker
}

// newWaiter watches the directory holding path, which also reports the
// file being replaced. Failing to watch is not an error: the waiter polls.
func newWaiter(path string) *waiter {
	w := &waiter{base: filepath.Base(path), ticker: time.NewTicker(pollInterval)}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return w
	}
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		watcher.Close()
		return w
	}
	w.watcher = watcher
	return w
}

func (w *waiter) Close() {
	w.ticker.Stop()
	if w.watcher != nil {
		w.watcher.Close()
	}
}

// wait blocks until the log file changes, the poll interval passes or ctx
// is done, returning ctx's error in the last case.
func (w *waiter) wait(ctx context.Context) error {
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.watcher != nil {
		events, errs = w.watcher.Events, w.watcher.Errors
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.ticker.C:
			return nil
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Base(ev.Name) == w.base {
				return nil
			}
		case _, ok := <-errs:
			// An overflowed or failed watch leaves the poll to do the work.
			if !ok {
				errs = nil
			}
		}
	}
}
