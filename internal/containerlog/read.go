package containerlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"
)

// Options selects and formats the log output, as the fields of the same
// names in PodLogOptions do.
type Options struct {
	// Timestamps prefixes each line with its RFC 3339 timestamp in UTC and a
	// space, like kubelet ("2026-11-23T05:21:55.141729343Z hello").
	Timestamps bool
	// TailLines, when set, keeps only the last N lines that pass the other
	// filters. Lines are counted after joining partial pieces. A negative
	// value means all lines.
	TailLines *int64
	// LimitBytes, when set, stops the output after this many bytes,
	// timestamps included. A value below 1 writes nothing.
	LimitBytes *int64
	// Since drops lines older than this time; the zero value keeps all.
	Since time.Time
	// Stream is "", "All", "Stdout" or "Stderr" (case-insensitive).
	Stream string
	// Follow keeps reading as the file grows until ctx is done or the done
	// function passed to Read reports that the writer finished.
	Follow bool
}

// ErrInvalidStream is returned for an Options.Stream Read does not know.
var ErrInvalidStream = errors.New("invalid log stream")

// streamSet holds the streams Options.Stream selects.
type streamSet struct{ stdout, stderr bool }

func (s streamSet) has(stream string) bool {
	return (stream == Stdout && s.stdout) || (stream == Stderr && s.stderr)
}

func parseStream(s string) (streamSet, error) {
	switch strings.ToLower(s) {
	case "", "all":
		return streamSet{stdout: true, stderr: true}, nil
	case Stdout:
		return streamSet{stdout: true}, nil
	case Stderr:
		return streamSet{stderr: true}, nil
	}
	return streamSet{}, fmt.Errorf("%w %q", ErrInvalidStream, s)
}

// Read writes the log at path to w according to opts. Malformed lines are
// skipped. A last line still split into partial pieces when reading ends is
// written without a newline.
//
// Without Follow, Read returns at the end of the file. With Follow it waits
// for more data and returns ctx.Err() when ctx is done, or nil once done
// (which may be nil) has reported true and the file has been drained
// after that: the container exited and its writer flushed everything. The
// file being replaced or truncated under Read is followed by reopening it.
// If w has a Flush method, it is called after every batch of lines.
func Read(ctx context.Context, path string, opts Options, done func() bool, w io.Writer) error {
	streams, err := parseStream(opts.Stream)
	if err != nil {
		return err
	}
	if opts.LimitBytes != nil {
		if *opts.LimitBytes < 1 {
			return nil
		}
		w = &limitWriter{w: w, n: *opts.LimitBytes}
	}
	lf, err := openLog(path)
	if err != nil {
		return err
	}
	defer lf.Close()

	r := &reader{
		path: path,
		file: lf,
		w:    w,
		asm:  &assembler{streams: streams, since: opts.Since, timestamps: opts.Timestamps},
	}
	err = r.run(ctx, opts, done)
	if errors.Is(err, errLimitReached) {
		return nil
	}
	return err
}

// reader carries one Read call's state between its steps.
type reader struct {
	path string
	file *logFile
	w    io.Writer
	asm  *assembler
}

func (r *reader) run(ctx context.Context, opts Options, done func() bool) error {
	lineFn := func(raw []byte) error { return r.line(ctx, raw) }
	r.asm.emit = r.write
	var tail *tailBuffer
	if opts.TailLines != nil && *opts.TailLines >= 0 {
		tail = &tailBuffer{n: *opts.TailLines}
		r.asm.emit = tail.add
	}
	if err := r.file.drain(lineFn); err != nil {
		return err
	}
	if !opts.Follow {
		if err := r.finish(lineFn); err != nil {
			return err
		}
		if tail != nil {
			return tail.writeTo(r.w)
		}
		return nil
	}
	if tail != nil {
		if err := tail.writeTo(r.w); err != nil {
			return err
		}
		r.asm.emit = r.write
	}
	return r.follow(ctx, done, lineFn)
}

// follow reads new data as it arrives until ctx is done or the writer has
// finished and everything it wrote was read.
func (r *reader) follow(ctx context.Context, done func() bool, lineFn func([]byte) error) error {
	wt := newWaiter(r.path)
	defer wt.Close()
	for {
		// Sample done before draining: whatever the writer wrote before
		// finishing is then read by this drain.
		finished := done != nil && done()
		if err := r.file.drain(lineFn); err != nil {
			return err
		}
		flush(r.w)
		if finished {
			err := r.finish(lineFn)
			flush(r.w)
			return err
		}
		if err := wt.wait(ctx); err != nil {
			return err
		}
	}
}

// finish writes what is left once no more data will come.
func (r *reader) finish(lineFn func([]byte) error) error {
	if err := r.file.finish(lineFn); err != nil {
		return err
	}
	return r.asm.flush()
}

// line parses one raw line of the file and feeds it to the assembler.
func (r *reader) line(ctx context.Context, raw []byte) error {
	e, err := Parse(raw)
	if err != nil {
		slog.DebugContext(ctx, "skipping malformed container log line", "path", r.path, "error", err)
		return nil
	}
	return r.asm.add(e)
}

func (r *reader) write(line []byte) error {
	_, err := r.w.Write(line)
	return err
}
