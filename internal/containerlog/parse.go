package containerlog

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Streams a log line can belong to.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags that end the tag field; further tags may follow, separated by ':'.
const (
	tagPartial = "P"
	tagFull    = "F"
)

// ErrMalformed is returned by Parse for a line not in the CRI log format.
var ErrMalformed = errors.New("malformed CRI log line")

// Entry is one parsed line of a CRI log file.
type Entry struct {
	// Time is when the runtime read the content, in UTC.
	Time time.Time
	// Stream is Stdout or Stderr.
	Stream string
	// Partial is set for a P line: Content continues in the next line of
	// the same stream.
	Partial bool
	// Content is the text without the line's terminating newline. It aliases
	// the line passed to Parse.
	Content []byte
}

// Parse parses one line of a CRI log file, with or without its terminating
// newline. Errors wrap ErrMalformed.
func Parse(line []byte) (Entry, error) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	ts, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok {
		return Entry{}, fmt.Errorf("%w: no stream after timestamp", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return Entry{}, fmt.Errorf("%w: timestamp: %w", ErrMalformed, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte(" "))
	if !ok {
		return Entry{}, fmt.Errorf("%w: no tag after stream", ErrMalformed)
	}
	e := Entry{Time: t.UTC(), Stream: string(stream)}
	if e.Stream != Stdout && e.Stream != Stderr {
		return Entry{}, fmt.Errorf("%w: unknown stream %q", ErrMalformed, stream)
	}
	// The content may be empty, and a writer may then omit the separator.
	tags, content, _ := bytes.Cut(rest, []byte(" "))
	tag, _, _ := bytes.Cut(tags, []byte(":"))
	switch string(tag) {
	case tagPartial:
		e.Partial = true
	case tagFull:
	default:
		return Entry{}, fmt.Errorf("%w: unknown tag %q", ErrMalformed, tags)
	}
	e.Content = content
	return e, nil
}
