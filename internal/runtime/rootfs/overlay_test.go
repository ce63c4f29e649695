package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peapod/peapod/internal/testutil"
)

func TestMountLayersAndUnmount(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	base, top := filepath.Join(dir, "l1"), filepath.Join(dir, "l2")
	for _, d := range []string{base, top} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(base, "a"), []byte("base"), 0o644)
	os.WriteFile(filepath.Join(base, "b"), []byte("base"), 0o644)
	os.WriteFile(filepath.Join(top, "b"), []byte("top"), 0o644)
	ctr := filepath.Join(dir, "ctr")
	root, err := Mount(ctr, []string{base, top})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "base", "b": "top"} {
		if got, _ := os.ReadFile(filepath.Join(root, name)); string(got) != want {
			t.Fatalf("%s = %q, want %q", name, got, want)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "new"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(base, "new")); err == nil {
		t.Fatal("write reached a lower layer")
	}
	if err := Unmount(ctr); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(ctr); err != nil {
		t.Fatalf("second unmount: %v", err)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), root) {
		t.Fatal("overlay still mounted")
	}
}

func TestMountReadOnly(t *testing.T) {
	testutil.RequireRoot(t)
	for _, tc := range []struct {
		name   string
		layers int
		want   map[string]string
	}{
		{"one layer (bind)", 1, map[string]string{"a": "l0", "b": "l0"}},
		{"three layers (overlay)", 3, map[string]string{"a": "l0", "b": "l2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var layers []string
			for i := range tc.layers {
				l := filepath.Join(dir, "l"+string(rune('0'+i)))
				if err := os.MkdirAll(l, 0o755); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					os.WriteFile(filepath.Join(l, "a"), []byte("l0"), 0o644)
				}
				os.WriteFile(filepath.Join(l, "b"), []byte(filepath.Base(l)), 0o644)
				layers = append(layers, l)
			}
			target := filepath.Join(dir, "vol")
			if err := MountReadOnly(target, layers); err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				if got, _ := os.ReadFile(filepath.Join(target, name)); string(got) != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			if err := os.WriteFile(filepath.Join(target, "new"), []byte("x"), 0o644); err == nil {
				t.Error("a write to the read-only view succeeded")
			}
			if err := unix.Unmount(target, 0); err != nil {
				t.Fatal(err)
			}
			mi, _ := os.ReadFile("/proc/self/mountinfo")
			if strings.Contains(string(mi), target) {
				t.Fatal("still mounted")
			}
		})
	}
}
