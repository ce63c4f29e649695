package containerlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sample has interleaved streams, a line split in three pieces and a
// malformed line.
const sample = `2026-11-23T05:21:55.000000001Z stdout F one
2026-11-23T05:21:56.5+00:00 stderr F err1
2026-11-23T05:21:57Z stdout P par
2026-11-23T05:21:57.1Z stderr F err2
2026-11-23T05:21:57.2Z stdout P ti
2026-11-23T05:21:58Z stdout F al
garbage
2026-11-23T05:21:59Z stdout F last
`

func writeLog(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func ptr(n int64) *int64 { return &n }

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		desc    string
		content string
		opts    Options
		want    string
	}{
		{desc: "all streams joined", content: sample, want: "one\nerr1\nerr2\npartial\nlast\n"},
		{desc: "stream All", content: sample, opts: Options{Stream: "All"}, want: "one\nerr1\nerr2\npartial\nlast\n"},
		{desc: "stdout only", content: sample, opts: Options{Stream: "Stdout"}, want: "one\npartial\nlast\n"},
		{desc: "stderr only", content: sample, opts: Options{Stream: "Stderr"}, want: "err1\nerr2\n"},
		{
			desc: "timestamps in UTC, joined line dated by its first piece", content: sample,
			opts: Options{Timestamps: true, Stream: "Stdout"},
			want: "2026-11-23T05:21:55.000000001Z one\n2026-11-23T05:21:57Z partial\n2026-11-23T05:21:59Z last\n",
		},
		{desc: "tail counts joined lines", content: sample, opts: Options{TailLines: ptr(2)}, want: "partial\nlast\n"},
		{desc: "tail 3", content: sample, opts: Options{TailLines: ptr(3)}, want: "err2\npartial\nlast\n"},
		{desc: "tail 0", content: sample, opts: Options{TailLines: ptr(0)}, want: ""},
		{desc: "tail negative means all", content: sample, opts: Options{TailLines: ptr(-1)}, want: "one\nerr1\nerr2\npartial\nlast\n"},
		{desc: "tail beyond length", content: sample, opts: Options{TailLines: ptr(100)}, want: "one\nerr1\nerr2\npartial\nlast\n"},
		{desc: "tail after stream filter", content: sample, opts: Options{TailLines: ptr(1), Stream: "Stderr"}, want: "err2\n"},
		{desc: "limit bytes", content: sample, opts: Options{LimitBytes: ptr(6)}, want: "one\ner"},
		{desc: "limit bytes counts timestamps", content: sample, opts: Options{LimitBytes: ptr(10), Timestamps: true}, want: "2026-11-23"},
		{desc: "limit bytes with tail", content: sample, opts: Options{LimitBytes: ptr(9), TailLines: ptr(2)}, want: "partial\nl"},
		{desc: "limit larger than output", content: sample, opts: Options{LimitBytes: ptr(1000)}, want: "one\nerr1\nerr2\npartial\nlast\n"},
		{desc: "since is inclusive", content: sample, opts: Options{Since: at("2026-11-23T05:21:57Z")}, want: "err2\npartial\nlast\n"},
		{desc: "since inside a joined line", content: sample, opts: Options{Since: at("2026-11-23T05:21:57.05Z")}, want: "err2\nlast\n"},
		{desc: "since with tail", content: sample, opts: Options{Since: at("2026-11-23T05:21:56Z"), TailLines: ptr(10)}, want: "err1\nerr2\npartial\nlast\n"},
		{
			desc:    "unfinished partial line written without newline",
			content: "2026-11-23T05:21:55Z stdout F a\n2026-11-23T05:21:56Z stdout P b\n",
			want:    "a\nb",
		},
		{
			desc:    "unfinished partial counts for tail",
			content: "2026-11-23T05:21:55Z stdout F a\n2026-11-23T05:21:56Z stdout P b\n",
			opts:    Options{TailLines: ptr(1)},
			want:    "b",
		},
		{
			desc:    "last line without newline",
			content: "2026-11-23T05:21:55Z stdout F a\n2026-11-23T05:21:56Z stdout F b",
			want:    "a\nb\n",
		},
		{desc: "empty file", content: "", want: ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			path := writeLog(t, tc.content)
			var out bytes.Buffer
			if err := Read(t.Context(), path, tc.opts, nil, &out); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if out.String() != tc.want {
				t.Errorf("output = %q, want %q", out.String(), tc.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	path := writeLog(t, sample)
	for _, tc := range []struct {
		desc string
		path string
		opts Options
		is   error
	}{
		{desc: "unknown stream", path: path, opts: Options{Stream: "stdin"}, is: ErrInvalidStream},
		{desc: "missing file", path: filepath.Join(t.TempDir(), "missing.log"), is: os.ErrNotExist},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := Read(t.Context(), tc.path, tc.opts, nil, &bytes.Buffer{})
			if !errors.Is(err, tc.is) {
				t.Errorf("Read error = %v, want %v", err, tc.is)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a Read goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor polls until the output equals want.
func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if out.String() == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("output = %q, want %q", out.String(), want)
}

func appendLog(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
}

// follow starts a following Read and returns its output and result channel.
func follow(t *testing.T, ctx context.Context, path string, opts Options, done func() bool) (*syncBuffer, <-chan error) {
	t.Helper()
	opts.Follow = true
	out := &syncBuffer{}
	errc := make(chan error, 1)
	go func() { errc <- Read(ctx, path, opts, done, out) }()
	return out, errc
}

func result(t *testing.T, errc <-chan error) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("Read did not return")
		return nil
	}
}

func TestReadFollow(t *testing.T) {
	path := writeLog(t, "2026-11-23T05:21:55Z stdout F first\n2026-11-23T05:21:55Z stdout F second\n")
	var finished atomic.Bool
	out, errc := follow(t, t.Context(), path, Options{TailLines: ptr(1)}, finished.Load)
	waitFor(t, out, "second\n")

	appendLog(t, path, "2026-11-23T05:21:56Z stdout P thi")
	appendLog(t, path, "rd\n2026-11-23T05:21:56Z stderr F err\n")
	waitFor(t, out, "second\nerr\n")
	appendLog(t, path, "2026-11-23T05:21:57Z stdout F  line\n")
	waitFor(t, out, "second\nerr\nthird line\n")

	// What is written before done turns true must still be read.
	appendLog(t, path, "2026-11-23T05:21:58Z stdout F last\n2026-11-23T05:21:58Z stdout P unfinished\n")
	finished.Store(true)
	if err := result(t, errc); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got, want := out.String(), "second\nerr\nthird line\nlast\nunfinished"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestReadFollowCancel(t *testing.T) {
	path := writeLog(t, "2026-11-23T05:21:55Z stdout F first\n")
	ctx, cancel := context.WithCancel(t.Context())
	out, errc := follow(t, ctx, path, Options{}, nil)
	waitFor(t, out, "first\n")
	cancel()
	if err := result(t, errc); !errors.Is(err, context.Canceled) {
		t.Errorf("Read error = %v, want context.Canceled", err)
	}
}

func TestReadFollowLimit(t *testing.T) {
	path := writeLog(t, "2026-11-23T05:21:55Z stdout F first\n")
	out, errc := follow(t, t.Context(), path, Options{LimitBytes: ptr(10)}, nil)
	waitFor(t, out, "first\n")
	appendLog(t, path, "2026-11-23T05:21:56Z stdout F second\n")
	if err := result(t, errc); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if got := out.String(); got != "first\nseco" {
		t.Errorf("output = %q", got)
	}
}

func TestReadFollowRotation(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		rotate func(t *testing.T, path, content string)
	}{
		{
			desc: "replaced by rename",
			rotate: func(t *testing.T, path, content string) {
				tmp := path + ".tmp"
				if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			desc: "truncated in place",
			rotate: func(t *testing.T, path, content string) {
				if err := os.Truncate(path, 0); err != nil {
					t.Fatal(err)
				}
				appendLog(t, path, content)
			},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			path := writeLog(t, "2026-11-23T05:21:55Z stdout F a fairly long first line\n")
			var finished atomic.Bool
			out, errc := follow(t, t.Context(), path, Options{}, finished.Load)
			waitFor(t, out, "a fairly long first line\n")
			tc.rotate(t, path, "2026-11-23T05:21:56Z stdout F new\n")
			waitFor(t, out, "a fairly long first line\nnew\n")
			appendLog(t, path, "2026-11-23T05:21:57Z stdout F newer\n")
			finished.Store(true)
			if err := result(t, errc); err != nil {
				t.Fatalf("Read: %v", err)
			}
			if got := out.String(); !strings.HasSuffix(got, "new\nnewer\n") {
				t.Errorf("output = %q", got)
			}
		})
	}
}
