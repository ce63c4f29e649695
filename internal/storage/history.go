package storage

// history is a ring of the most recent events, so a watch can resume from a
// recent resourceVersion. It is guarded by Store.mu.
type history struct {
	events []Event
	next   int    // index the next event is written to
	full   bool   // the ring has wrapped at least once
	since  uint64 // every event with Revision > since is (or was) in the ring
}

func newHistory(size int, rev uint64) *history {
	return &history{events: make([]Event, size), since: rev}
}

func (h *history) add(e Event) {
	if h.full {
		// The event being overwritten leaves the window.
		h.since = h.events[h.next].Revision
	}
	h.events[h.next] = e
	h.next++
	if h.next == len(h.events) {
		h.next, h.full = 0, true
	}
}

// oldest returns the smallest revision a watch may start from.
func (h *history) oldest() uint64 { return h.since }

// after returns the kept events with Revision > rev, oldest first, or
// ErrTooOld if some of them are no longer kept.
func (h *history) after(rev uint64) ([]Event, error) {
	if rev < h.since {
		return nil, ErrTooOld
	}
	var out []Event
	n := h.next
	if h.full {
		n = len(h.events)
	}
	start := 0
	if h.full {
		start = h.next
	}
	for i := 0; i < n; i++ {
		e := h.events[(start+i)%len(h.events)]
		if e.Revision > rev {
			out = append(out, e)
		}
	}
	return out, nil
}
