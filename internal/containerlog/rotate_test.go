package containerlog

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestRotate(t *testing.T) {
	base := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		existing []string // rotated files there before, besides 0.log
		maxFiles int
		reopen   error
		want     []string
		wantErr  bool
	}{
		{name: "first rotation", maxFiles: 5, want: []string{"0.log", "0.log.20261205-120000"}},
		{name: "older ones compressed", maxFiles: 5, existing: []string{"0.log.20261205-115900", "0.log.20261205-115800.gz"},
			want: []string{"0.log", "0.log.20261205-115800.gz", "0.log.20261205-115900.gz", "0.log.20261205-120000"}},
		{name: "at most max files", maxFiles: 3,
			existing: []string{"0.log.20261205-115700.gz", "0.log.20261205-115800.gz", "0.log.20261205-115900"},
			want:     []string{"0.log", "0.log.20261205-115900.gz", "0.log.20261205-120000"}},
		{name: "two files keep one rotated", maxFiles: 2, existing: []string{"0.log.20261205-115900"},
			want: []string{"0.log", "0.log.20261205-120000"}},
		{name: "leftovers removed", maxFiles: 5,
			existing: []string{"0.log.20261205-115900.gz.tmp", "0.log.20261205-115800", "0.log.20261205-115800.gz"},
			want:     []string{"0.log", "0.log.20261205-115800.gz", "0.log.20261205-120000"}},
		{name: "other instances untouched", maxFiles: 2, existing: []string{"1.log", "10.log.20261205-115900"},
			want: []string{"0.log", "0.log.20261205-120000", "1.log", "10.log.20261205-115900"}},
		{name: "reopen fails", maxFiles: 5, reopen: errors.New("conmon gone"), wantErr: true, want: []string{"0.log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			live := filepath.Join(dir, "0.log")
			for _, name := range append([]string{"0.log"}, tt.existing...) {
				content := "content of " + strings.TrimSuffix(name, ".gz") + "\n"
				if strings.HasSuffix(name, ".gz") {
					f, _ := os.Create(filepath.Join(dir, name))
					zw := gzip.NewWriter(f)
					_, _ = zw.Write([]byte(content))
					zw.Close()
					f.Close()
					continue
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			reopened := false
			err := Policy{MaxSize: 1, MaxFiles: tt.maxFiles}.Rotate(context.Background(), live, base, func(context.Context) error {
				if tt.reopen != nil {
					return tt.reopen
				}
				reopened = true
				return os.WriteFile(live, nil, 0o600) // what conmon does
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			if got := listDir(t, dir); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("files %v, want %v", got, tt.want)
			}
			if tt.wantErr {
				if b, _ := os.ReadFile(live); string(b) != "content of 0.log\n" {
					t.Errorf("live log after a failed reopen: %q", b)
				}
				return
			}
			if !reopened {
				t.Error("writer not told to reopen")
			}
			if b, _ := os.ReadFile(live + ".20261205-120000"); string(b) != "content of 0.log\n" {
				t.Errorf("rotated: %q", b)
			}
			for _, name := range tt.want {
				if !strings.HasSuffix(name, ".gz") {
					continue
				}
				f, err := os.Open(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				zr, err := gzip.NewReader(f)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				b, _ := io.ReadAll(zr)
				f.Close()
				if want := "content of " + strings.TrimSuffix(name, ".gz") + "\n"; string(b) != want {
					t.Errorf("%s holds %q, want %q", name, b, want)
				}
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []Policy{{MaxSize: 10, MaxFiles: 1}, {MaxSize: 0, MaxFiles: 5}} {
		if err := p.Validate(); !errors.Is(err, ErrPolicy) {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if err := (Policy{MaxSize: 10 << 20, MaxFiles: 5}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"0.log", "0.log.20261205-120000", "0.log.20261205-115900.gz", "1.log"} {
		_ = os.WriteFile(filepath.Join(dir, name), nil, 0o600)
	}
	if err := Remove(filepath.Join(dir, "0.log")); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, dir); strings.Join(got, " ") != "1.log" {
		t.Errorf("left %v", got)
	}
}

// TestFollowAcrossRotation: a follower reads every line written before and
// after the live file is renamed away and a new one takes its place.
func TestFollowAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "0.log")
	line := func(s string) string { return "2026-12-05T12:00:00.000000000+00:00 stdout F " + s + "\n" }
	if err := os.WriteFile(live, []byte(line("one")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	finished := make(chan struct{})
	var doneFlag atomic.Bool
	go func() {
		_ = Read(ctx, live, Options{Follow: true}, doneFlag.Load, pw)
		pw.Close()
		close(finished)
	}()
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(pr); got <- string(b) }()
	appendTo := func(path, s string) {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString(s)
		f.Close()
	}
	time.Sleep(300 * time.Millisecond)
	now := time.Now()
	err := Policy{MaxSize: 1, MaxFiles: 5}.Rotate(ctx, live, now, func(context.Context) error {
		// The writer's last words in the old file, then the new file.
		appendTo(live+"."+now.UTC().Format(RotatedTimeFormat), line("two"))
		appendTo(live, line("three"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	appendTo(live, line("four"))
	time.Sleep(300 * time.Millisecond)
	doneFlag.Store(true)
	<-finished
	if s := <-got; s != "one\ntwo\nthree\nfour\n" {
		t.Errorf("followed %q", s)
	}
}
