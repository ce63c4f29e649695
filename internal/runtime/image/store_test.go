package image

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func newTestStore(t *testing.T, opts Options) *Store {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := NewStore(filepath.Join(t.TempDir(), "images"), opts)
	if err != nil {
		t.Fatalf("NewStore: %v", err)
	}
	return s
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

func randomImage(t *testing.T, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(256, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t *testing.T, ref string, w remote.Taggable, opts ...remote.Option) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	switch w := w.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(r, w, opts...)
	case v1.Image:
		err = remote.Write(r, w, opts...)
	}
	if err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

func digestOf(t *testing.T, d interface{ Digest() (v1.Hash, error) }) string {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func configName(t *testing.T, img v1.Image) string {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// checkImage verifies an image's identity, names and unpacked layers.
func checkImage(t *testing.T, s *Store, got *Image, want v1.Image, tags, digests []string) {
	t.Helper()
	if got.ID != configName(t, want) {
		t.Errorf("ID = %s, want %s", got.ID, configName(t, want))
	}
	if !slices.Equal(got.RepoTags, tags) {
		t.Errorf("RepoTags = %q, want %q", got.RepoTags, tags)
	}
	if !slices.Equal(got.RepoDigests, digests) {
		t.Errorf("RepoDigests = %q, want %q", got.RepoDigests, digests)
	}
	cf, err := want.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Layers) != len(cf.RootFS.DiffIDs) {
		t.Fatalf("Layers = %q, want %d layers", got.Layers, len(cf.RootFS.DiffIDs))
	}
	for i, d := range cf.RootFS.DiffIDs {
		if got.Layers[i] != d.String() {
			t.Errorf("Layers[%d] = %s, want %s", i, got.Layers[i], d)
		}
	}
	dirs, err := s.LayerDirs(got)
	if err != nil {
		t.Fatalf("LayerDirs: %v", err)
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil || len(entries) == 0 {
			t.Errorf("layer dir %s: %d entries, %v", d, len(entries), err)
		}
	}
	if got.Size == 0 {
		t.Error("Size = 0")
	}
}
