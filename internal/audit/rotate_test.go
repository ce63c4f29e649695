package audit

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRotation(t *testing.T) {
	for _, tc := range []struct {
		desc string
		rot  Rotation
		// writes are MiB-sized writes, one per simulated hour.
		writes      int
		wantBackups int
	}{
		{"all backups kept", Rotation{MaxSize: 1}, 5, 4},
		{"maxbackup", Rotation{MaxSize: 1, MaxBackups: 2}, 5, 2},
		// Backups named 0h..3h; at the last rotation (4h), those older
		// than a day (none) stay, so maxage only bites across days.
		{"maxage keeps recent", Rotation{MaxSize: 1, MaxAge: 1}, 5, 4},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.log")
			now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			rf, err := openRotating(path, tc.rot, clock)
			if err != nil {
				t.Fatal(err)
			}
			defer rf.Close()
			chunk := []byte(strings.Repeat("x", 1<<20-1) + "\n")
			for i := range tc.writes {
				now = now.Add(time.Hour)
				chunk[0] = byte('a' + i)
				if _, err := rf.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			backups := backupsIn(t, dir)
			if len(backups) != tc.wantBackups {
				t.Fatalf("backups %v, want %d", backups, tc.wantBackups)
			}
			// The newest backup holds the write before the last.
			newest := backups[len(backups)-1]
			data, _ := os.ReadFile(filepath.Join(dir, newest))
			if want := byte('a' + tc.writes - 2); len(data) != 1<<20 || data[0] != want {
				t.Errorf("newest backup %s: %d bytes starting %q, want one write starting %q", newest, len(data), data[:1], want)
			}
			if want := "audit-2026-12-06T12-00-00.000.log"; newest != want {
				t.Errorf("newest backup is named %s, want %s (lumberjack's format, rotation time)", newest, want)
			}
			data, _ = os.ReadFile(path)
			if len(data) != 1<<20 || data[0] != byte('a'+tc.writes-1) {
				t.Errorf("current file: %d bytes, want the last write", len(data))
			}
			st, _ := os.Stat(path)
			if st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
		})
	}
}

func TestRotationMaxAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	// Backups from other days, and a file that only looks like one.
	for _, name := range []string{"audit-2026-12-01T07-00-00.000.log", "audit-2026-12-05T12-00-00.000.log", "audit-notatime.log", "other-2026-12-01T07-00-00.000.log"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("old\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	rf, err := openRotating(path, Rotation{MaxSize: 1, MaxAge: 1}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	big := []byte(strings.Repeat("y", 700<<10))
	for range 2 {
		if _, err := rf.Write(big); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"audit-2026-12-05T12-00-00.000.log", "audit-2026-12-06T07-00-00.000.log", "audit-notatime.log", "other-2026-12-01T07-00-00.000.log"}
	if got := backupsIn(t, dir); !slices.Equal(got, want) {
		t.Errorf("files %v, want %v (the 5-day-old backup removed)", got, want)
	}
}

func TestRotationValidate(t *testing.T) {
	for _, tc := range []struct {
		rot  Rotation
		want string
	}{
		{Rotation{MaxAge: -1}, "--audit-log-maxage -1 can't be a negative number"},
		{Rotation{MaxBackups: -2}, "--audit-log-maxbackup -2 can't be a negative number"},
		{Rotation{MaxSize: -3}, "--audit-log-maxsize -3 can't be a negative number"},
	} {
		if err := tc.rot.Validate(); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: got %v, want %q", tc.rot, err, tc.want)
		}
	}
	if err := (Rotation{}).Validate(); err != nil {
		t.Errorf("zero rotation: %v", err)
	}
}

// backupsIn lists dir without audit.log, sorted.
func backupsIn(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != "audit.log" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}
