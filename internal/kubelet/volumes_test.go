package kubelet

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestAtomicWrite: files appear through ..data symlinks, a change swaps
// them all at once and drops keys that went away, and an unchanged set
// writes nothing.
func TestAtomicWrite(t *testing.T) {
	dir := t.TempDir()
	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if err := atomicWrite(dir, map[string]volumeFile{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o400}}, nil); err != nil {
		t.Fatal(err)
	}
	if read("a") != "1" || read("sub/b") != "2" {
		t.Fatalf("first write: a=%q sub/b=%q", read("a"), read("sub/b"))
	}
	if target, _ := os.Readlink(filepath.Join(dir, "a")); target != "..data/a" {
		t.Errorf("a links to %q", target)
	}
	if fi, err := os.Stat(filepath.Join(dir, "sub/b")); err != nil || fi.Mode().Perm() != 0o400 {
		t.Errorf("mode of sub/b: %v %v", fi.Mode(), err)
	}
	first, _ := os.Readlink(filepath.Join(dir, dataLink))
	if err := atomicWrite(dir, map[string]volumeFile{"a": {[]byte("1"), 0o644}, "sub/b": {[]byte("2"), 0o400}}, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, dataLink)); again != first {
		t.Errorf("an unchanged payload was rewritten (%s -> %s)", first, again)
	}
	if err := atomicWrite(dir, map[string]volumeFile{"a": {[]byte("changed"), 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	if read("a") != "changed" {
		t.Errorf("a after the change: %q", read("a"))
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sub still there after its key went away: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 { // ..data, ..ts_<new>, a
		t.Errorf("entries after the swap: %v", names)
	}
}

func TestSubPath(t *testing.T) {
	base := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(base, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(base, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("inner", filepath.Join(base, "ok")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		sub, want, err string
	}{
		{"logs", filepath.Join(base, "logs"), ""},
		{"a/b", filepath.Join(base, "a/b"), ""},
		{"ok", filepath.Join(base, "inner"), ""},
		{"escape", "", "not within volume path"},
		{"escape/new", "", "not within volume path"},
		{"../x", "", "must be a relative path inside the volume"},
		{"/etc", "", "must be a relative path inside the volume"},
	} {
		got, err := subPath(base, tc.sub)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("subPath(%q) = %q, %v; want error %q", tc.sub, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("subPath(%q) = %q, %v; want %q", tc.sub, got, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
		t.Error("a subPath through a symlink made a directory outside the volume")
	}
}

func TestCheckHostPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	typ := func(t corev1.HostPathType) *corev1.HostPathType { return &t }
	for _, tc := range []struct {
		path string
		typ  *corev1.HostPathType
		err  string
	}{
		{"/nonexistent-peapod", nil, ""},
		{dir, typ(corev1.HostPathDirectory), ""},
		{file, typ(corev1.HostPathDirectory), "hostPath type check failed: " + file + " is not a directory"},
		{file, typ(corev1.HostPathFile), ""},
		{dir, typ(corev1.HostPathFile), "hostPath type check failed: " + dir + " is not a file"},
		{sock, typ(corev1.HostPathSocket), ""},
		{file, typ(corev1.HostPathSocket), "is not a socket file"},
		{"/dev/null", typ(corev1.HostPathCharDev), ""},
		{file, typ(corev1.HostPathBlockDev), "is not a block device"},
		{filepath.Join(dir, "missing"), typ(corev1.HostPathDirectory), "does not exist"},
		{filepath.Join(dir, "made/dir"), typ(corev1.HostPathDirectoryOrCreate), ""},
		{filepath.Join(dir, "made/file"), typ(corev1.HostPathFileOrCreate), ""},
		{file, typ(corev1.HostPathDirectoryOrCreate), "is not a directory"},
	} {
		err := checkHostPath(&corev1.HostPathVolumeSource{Path: tc.path, Type: tc.typ})
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkHostPath(%s, %v) = %v, want %q", tc.path, tc.typ, err, tc.err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "made/dir")); err != nil || !fi.IsDir() {
		t.Errorf("DirectoryOrCreate did not make a directory: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "made/file")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("FileOrCreate did not make a file: %v", err)
	}
}
