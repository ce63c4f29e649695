package storage

import (
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// Event is one change to one object.
type Event struct {
	Type     watch.EventType
	Key      string
	Object   runtime.Object // new state; for Deleted, the last state
	Prev     runtime.Object // state before the change, nil for Added
	Revision uint64
}

// WatchOptions select what a Watcher sees.
type WatchOptions struct {
	// Prefix limits the watch to keys under it.
	Prefix string
	// Revision: only changes after this revision are sent.
	Revision uint64
	// SendInitial sends every current object as Added first and then the
	// changes after the current revision; Revision is ignored.
	SendInitial bool
	// InitialEventsEnd, with SendInitial, sends a Bookmark event at the
	// starting revision after the initial objects.
	InitialEventsEnd bool
	// Filter, if set, decides whether an object is visible. An object that
	// stops matching is reported Deleted, one that starts matching Added.
	Filter func(runtime.Object) bool
}

// maxQueue bounds how far a watcher may fall behind before it is closed.
const maxQueue = 100000

// Watcher streams events to one consumer. The producer (a store write) never
// blocks on it: events queue up and a goroutine hands them over.
type Watcher struct {
	store *Store
	opts  WatchOptions
	start uint64
	ch    chan Event
	done  chan struct{}

	mu      sync.Mutex
	queue   []Event
	wake    chan struct{}
	err     error
	stopped bool
}

// Watch starts a watch. It returns ErrTooOld when opts.Revision is older than
// the kept history.
func (s *Store) Watch(opts WatchOptions) (*Watcher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &Watcher{store: s, opts: opts, start: s.rev, ch: make(chan Event), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	if opts.SendInitial {
		keys := make([]string, 0)
		for k := range s.objects {
			if strings.HasPrefix(k, opts.Prefix) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			w.queue = append(w.queue, Event{Type: watch.Added, Key: k, Object: s.objects[k], Revision: s.rev})
		}
		if opts.InitialEventsEnd {
			w.queue = append(w.queue, Event{Type: watch.Bookmark, Revision: s.rev})
		}
	} else {
		evs, err := s.history.after(opts.Revision)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			if strings.HasPrefix(e.Key, opts.Prefix) {
				w.queue = append(w.queue, e)
			}
		}
	}
	s.watchers[w] = struct{}{}
	go w.run()
	if len(w.queue) > 0 {
		w.wake <- struct{}{}
	}
	return w, nil
}

// OldestRevision is the oldest revision a watch can start from.
func (s *Store) OldestRevision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.history.oldest()
}

func (s *Store) publishLocked(e Event) {
	s.history.add(e)
	for w := range s.watchers {
		if strings.HasPrefix(e.Key, w.opts.Prefix) {
			w.enqueue(e)
		}
	}
}

// StartRevision is the store revision when the watch began; with SendInitial
// the initial objects reflect it.
func (w *Watcher) StartRevision() uint64 { return w.start }

// ResultChan delivers events until the watch stops; then it is closed.
func (w *Watcher) ResultChan() <-chan Event { return w.ch }

// Err tells why the result channel closed: nil after Stop or Close,
// ErrWatcherTooSlow if the consumer fell behind.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stop ends the watch. It is safe to call more than once.
func (w *Watcher) Stop() {
	w.store.mu.Lock()
	w.stopLocked(nil)
	w.store.mu.Unlock()
}

func (w *Watcher) stopLocked(err error) {
	delete(w.store.watchers, w)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	w.stopped, w.err = true, err
	w.queue = nil
	close(w.done)
}

// enqueue runs under the store lock.
func (w *Watcher) enqueue(e Event) {
	w.mu.Lock()
	if len(w.queue) >= maxQueue {
		w.mu.Unlock()
		w.stopLocked(ErrWatcherTooSlow)
		return
	}
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Watcher) run() {
	defer close(w.ch)
	for {
		select {
		case <-w.done:
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.queue
		w.queue = nil
		w.mu.Unlock()
		for _, e := range batch {
			out, ok := w.filter(e)
			if !ok {
				continue
			}
			select {
			case w.ch <- out:
			case <-w.done:
				return
			}
		}
	}
}

// filter applies the watch's filter with the upstream cacher's rules.
func (w *Watcher) filter(e Event) (Event, bool) {
	if w.opts.Filter == nil || e.Type == watch.Bookmark {
		return e, true
	}
	cur := e.Type != watch.Deleted && w.opts.Filter(e.Object)
	prev := false
	switch {
	case e.Type == watch.Deleted:
		prev = w.opts.Filter(e.Object)
	case e.Prev != nil:
		prev = w.opts.Filter(e.Prev)
	}
	switch {
	case cur && prev:
		return e, true
	case cur && !prev:
		e.Type = watch.Added
		return e, true
	case !cur && prev:
		if e.Type != watch.Deleted {
			// No longer visible: report the last visible state as deleted,
			// stamped with this event's revision.
			gone := e.Prev.DeepCopyObject()
			setResourceVersion(gone, e.Revision)
			e.Object = gone
		}
		e.Type = watch.Deleted
		return e, true
	}
	return e, false
}
