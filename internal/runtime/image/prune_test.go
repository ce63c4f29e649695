package image

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/peapod/peapod/internal/testutil"
)

// TestPruneLayers: a layer shared with a kept image stays, the removed
// image's own layer and blobs go, a layer a container still uses stays
// until it does not.
func TestPruneLayers(t *testing.T) {
	reg := testutil.StartRegistry(t, nil)
	s := newTestStore(t, Options{})
	s.blobGrace = 0
	base := randomImage(t, 1)
	extra := randomImage(t, 1)
	layers, err := extra.Layers()
	if err != nil {
		t.Fatal(err)
	}
	derived, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	push(t, reg+"/base:1", base)
	push(t, reg+"/derived:1", derived)
	ctx := context.Background()
	b, err := s.Pull(ctx, reg+"/base:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.Pull(ctx, reg+"/derived:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	shared, own := d.Layers[0], d.Layers[1]
	if b.Layers[0] != shared {
		t.Fatalf("layers %v and %v share nothing", b.Layers, d.Layers)
	}
	blobs := func() int {
		entries, _ := os.ReadDir(s.blobDir())
		return len(entries)
	}
	before := blobs()

	if err := s.Remove(reg + "/derived:1"); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{own: true} // a container of derived still exists
	removed, err := s.PruneLayers(func(diffID string) bool { return used[diffID] })
	if err != nil || len(removed) != 0 {
		t.Fatalf("prune with the layer in use: removed %v, %v", removed, err)
	}
	if after := blobs(); after >= before {
		t.Errorf("blobs: %d before removing, %d after: derived's manifest and config stayed", before, after)
	}
	removed, err = s.PruneLayers(func(string) bool { return false })
	if err != nil || len(removed) != 1 || removed[0] != own {
		t.Fatalf("prune: removed %v (%v), want [%s]", removed, err, own)
	}
	if _, err := os.Stat(s.layerDir(own)); !os.IsNotExist(err) {
		t.Errorf("layer %s still on disk: %v", own, err)
	}
	if _, err := s.LayerDirs(b); err != nil {
		t.Errorf("base lost its layer: %v", err)
	}
	entries, _ := os.ReadDir(s.path("layers"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("left behind: %s", e.Name())
		}
	}

	// An unpacked layer no image names (a pull that has not committed
	// yet looks the same: its commit unpacks again what was pruned) goes,
	// and the image can be pulled again.
	if err := s.Remove(reg + "/base:1"); err != nil {
		t.Fatal(err)
	}
	if removed, err := s.PruneLayers(nil); err != nil || len(removed) != 1 || removed[0] != shared {
		t.Fatalf("prune the last image: %v %v", removed, err)
	}
	if err := os.MkdirAll(s.layerDir(shared), 0o755); err != nil { // as if unpacked, not committed
		t.Fatal(err)
	}
	if _, err := s.PruneLayers(nil); err != nil {
		t.Fatal(err)
	}
	b, err = s.Pull(ctx, reg+"/base:1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LayerDirs(b); err != nil {
		t.Errorf("pulled again: %v", err)
	}
}
