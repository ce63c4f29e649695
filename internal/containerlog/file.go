package containerlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// readChunk is how much is read from the log file at a time.
const readChunk = 32 << 10

// logFile reads a log file line by line as it grows, following the path to
// a new file when the writer replaces or truncates it.
type logFile struct {
	path   string
	f      *os.File
	info   os.FileInfo
	offset int64
	carry  []byte // an incomplete last line, waiting for its newline
	buf    []byte
}

func openLog(path string) (*logFile, error) {
	l := &logFile{path: path, buf: make([]byte, readChunk)}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *logFile) open() error {
	f, err := os.Open(l.path)
	if err != nil {
		return fmt.Errorf("opening container log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("opening container log: %w", err)
	}
	l.f, l.info, l.offset, l.carry = f, info, 0, l.carry[:0]
	return nil
}

func (l *logFile) Close() error {
	return l.f.Close()
}

// readLines calls fn for every complete line up to the end of the file.
// The line passed to fn is only valid during the call.
func (l *logFile) readLines(fn func(line []byte) error) error {
	for {
		n, err := l.f.Read(l.buf)
		if n > 0 {
			l.offset += int64(n)
			if perr := l.split(l.buf[:n], fn); perr != nil {
				return perr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading container log: %w", err)
		}
	}
}

// split passes the complete lines of carry+data to fn and keeps the rest.
func (l *logFile) split(data []byte, fn func(line []byte) error) error {
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.carry = append(l.carry, data...)
			return nil
		}
		line := data[:i+1]
		if len(l.carry) > 0 {
			l.carry = append(l.carry, line...)
			line = l.carry
		}
		err := fn(line)
		l.carry = l.carry[:0]
		if err != nil {
			return err
		}
		data = data[i+1:]
	}
}

// finish passes an unterminated last line to fn. It is called when no more
// data will follow in this file.
func (l *logFile) finish(fn func(line []byte) error) error {
	if len(l.carry) == 0 {
		return nil
	}
	line := l.carry
	l.carry = nil
	return fn(line)
}

// drain reads to the end of the file. When the path meanwhile names another
// file (conmon writes a new file and renames it into place) or the file
// shrank (it was truncated), drain continues from the start of the new
// content. While the path is missing, in the middle of a rotation, the old
// file is kept.
func (l *logFile) drain(fn func(line []byte) error) error {
	for {
		if err := l.readLines(fn); err != nil {
			return err
		}
		info, err := os.Stat(l.path)
		if err != nil {
			return nil
		}
		switch {
		case !os.SameFile(info, l.info):
			// The writer stopped writing the old file before it made the
			// new one: what it wrote since the read above is read now.
			if err := l.readLines(fn); err != nil {
				return err
			}
			if err := l.finish(fn); err != nil {
				return err
			}
			old := l.f
			if err := l.open(); err != nil {
				return nil // gone again; keep reading the old file
			}
			old.Close()
		case info.Size() < l.offset:
			if _, err := l.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("rewinding truncated container log: %w", err)
			}
			l.offset, l.carry = 0, l.carry[:0]
		default:
			return nil
		}
	}
}
