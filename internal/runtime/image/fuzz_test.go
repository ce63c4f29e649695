package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzApplyLayer unpacks arbitrary bytes as a layer: whatever they hold
// (links, whiteouts, sparse entries, devices, broken headers), nothing may
// be written outside the layer directory and nothing may panic.
func FuzzApplyLayer(f *testing.F) {
	t := &testing.T{}
	for _, entries := range [][]tarEntry{
		{dir("a/"), file("a/b", "x"), symlink("l", "a"), hardlink("h", "a/b")},
		{symlink("a", "../.."), file("a/evil", "x")},
		{symlink("evil", "/"), file("evil/../x", "x")},
		{file(".wh..wh..opq", ""), file("a/.wh.b", "")},
		{hardlink("h", "/etc/passwd")},
		{symlink("a", "/"), hardlink("h", "a/etc/passwd")},
		{file("../escape", "x")},
	} {
		f.Add(buildTar(t, entries))
	}
	f.Add(paxSparseFile("sparse", 512<<10))
	f.Add(paxSparseFile("bomb", 1<<40))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "layer"), filepath.Join(base, "outside")
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(outside, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		// A small limit keeps each run fast: declared sizes past it are
		// refused before any byte is read.
		_, _ = applyLayer(context.Background(), root, bytes.NewReader(data), 1<<20)
		entries, err := os.ReadDir(base)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "layer" && e.Name() != "outside" {
				t.Fatalf("the layer wrote %s outside its directory", e.Name())
			}
		}
		if data, err := os.ReadFile(outside); err != nil || string(data) != "keep" {
			t.Fatalf("the file outside the layer changed: %q %v", data, err)
		}
	})
}
