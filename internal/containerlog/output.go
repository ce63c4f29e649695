package containerlog

import (
	"errors"
	"io"
	"slices"
	"time"
)

// errLimitReached stops reading once Options.LimitBytes have been written.
var errLimitReached = errors.New("log byte limit reached")

// pendingLine collects the pieces of a line split over P entries.
type pendingLine struct {
	stream string
	time   time.Time // of the first piece, which dates the whole line
	buf    []byte
}

// assembler turns entries into output lines: it filters by stream and time,
// joins partial pieces per stream and formats each line for emit.
type assembler struct {
	streams    streamSet
	since      time.Time
	timestamps bool
	pending    []*pendingLine // at most one per stream
	emit       func(line []byte) error
}

// add feeds one entry; a line is emitted when its final piece arrives.
func (a *assembler) add(e Entry) error {
	if !a.streams.has(e.Stream) {
		return nil
	}
	i := slices.IndexFunc(a.pending, func(p *pendingLine) bool { return p.stream == e.Stream })
	var p *pendingLine
	if i >= 0 {
		p = a.pending[i]
	} else {
		p = &pendingLine{stream: e.Stream, time: e.Time}
	}
	p.buf = append(p.buf, e.Content...)
	if e.Partial {
		if i < 0 {
			a.pending = append(a.pending, p)
		}
		return nil
	}
	if i >= 0 {
		a.pending = slices.Delete(a.pending, i, i+1)
	}
	return a.finish(p, true)
}

// flush emits the lines whose final piece never came, without a newline,
// oldest first. It is called once the writer is known to be finished.
func (a *assembler) flush() error {
	pending := a.pending
	a.pending = nil
	slices.SortStableFunc(pending, func(x, y *pendingLine) int { return x.time.Compare(y.time) })
	for _, p := range pending {
		if err := a.finish(p, false); err != nil {
			return err
		}
	}
	return nil
}

// finish formats a complete line and emits it unless it predates since.
func (a *assembler) finish(p *pendingLine, newline bool) error {
	if p.time.Before(a.since) {
		return nil
	}
	var line []byte
	if a.timestamps {
		line = p.time.UTC().AppendFormat(line, time.RFC3339Nano)
		line = append(line, ' ')
	}
	line = append(line, p.buf...)
	if newline {
		line = append(line, '\n')
	}
	return a.emit(line)
}

// tailBuffer keeps the last n lines until they can be written.
type tailBuffer struct {
	n     int64
	lines [][]byte
}

func (t *tailBuffer) add(line []byte) error {
	if t.n <= 0 {
		return nil
	}
	t.lines = append(t.lines, line)
	if int64(len(t.lines)) > t.n {
		t.lines[0] = nil
		t.lines = t.lines[1:]
	}
	return nil
}

func (t *tailBuffer) writeTo(w io.Writer) error {
	lines := t.lines
	t.lines = nil
	for _, line := range lines {
		if _, err := w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// limitWriter passes through at most n bytes and reports errLimitReached as
// soon as the budget is spent, so that Read stops instead of waiting for
// output it would drop.
type limitWriter struct {
	w io.Writer
	n int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimitReached
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err != nil {
		return n, err
	}
	if l.n <= 0 {
		return n, errLimitReached
	}
	return n, nil
}

// flusher is implemented by writers that buffer, such as
// http.ResponseWriter; following flushes after every batch of lines.
type flusher interface {
	Flush()
}

func flush(w io.Writer) {
	if f, ok := w.(flusher); ok {
		f.Flush()
	}
}
