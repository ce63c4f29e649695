package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ociArchive writes images into an OCI layout, each with its index.json
// annotations, and returns the layout as a tarball.
func ociArchive(t *testing.T, images []v1.Image, annotations []map[string]string) []byte {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range images {
		if err := p.AppendImage(img, layout.WithAnnotations(annotations[i])); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		hdr.Name, _ = filepath.Rel(dir, path)
		if err := tw.WriteHeader(hdr); err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err == nil {
			_, err = tw.Write(data)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dockerArchive returns a "docker save" style tarball of tagged images.
func dockerArchive(t *testing.T, tagged map[string]v1.Image) []byte {
	t.Helper()
	refs := map[name.Reference]v1.Image{}
	for tag, img := range tagged {
		ref, err := name.ParseReference(tag)
		if err != nil {
			t.Fatal(err)
		}
		refs[ref] = img
	}
	var buf bytes.Buffer
	if err := tarball.MultiRefWrite(refs, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func importBytes(t *testing.T, s *Store, data []byte) []*Image {
	t.Helper()
	images, err := s.Import(context.Background(), bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return images
}

func TestImport(t *testing.T) {
	a, b, c := randomImage(t, 2), randomImage(t, 1), randomImage(t, 1)
	oci := ociArchive(t, []v1.Image{a, b, c}, []map[string]string{
		{"io.containerd.image.name": "registry.k8s.io/pause:3.10", "org.opencontainers.image.ref.name": "3.10"},
		{"org.opencontainers.image.ref.name": "v2"},
		{"org.opencontainers.image.ref.name": "Not A Ref"},
	})
	docker := dockerArchive(t, map[string]v1.Image{"busybox:1": a, "quay.io/x/y:2": b})

	tests := []struct {
		desc string
		data []byte
		want []v1.Image
		tags [][]string
		repo []string // repository recorded in RepoDigests, "" for none
	}{
		{
			desc: "OCI layout",
			data: oci,
			want: []v1.Image{a, b, c},
			tags: [][]string{{"registry.k8s.io/pause:3.10"}, {"docker.io/library/v2:latest"}, nil},
			repo: []string{"registry.k8s.io/pause", "docker.io/library/v2", ""},
		},
		{
			desc: "docker archive",
			data: docker,
			want: []v1.Image{a, b},
			tags: [][]string{{"docker.io/library/busybox:1"}, {"quay.io/x/y:2"}},
			repo: []string{"docker.io/library/busybox", "quay.io/x/y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newTestStore(t, Options{})
			got := importBytes(t, s, tt.data)
			slices.SortFunc(got, func(x, y *Image) int { return indexOfID(t, tt.want, x.ID) - indexOfID(t, tt.want, y.ID) })
			if len(got) != len(tt.want) {
				t.Fatalf("imported %d images, want %d", len(got), len(tt.want))
			}
			for i, img := range got {
				var digests []string
				if tt.repo[i] != "" {
					if len(img.RepoDigests) != 1 {
						t.Fatalf("RepoDigests = %q", img.RepoDigests)
					}
					digests = []string{tt.repo[i] + "@" + img.RepoDigests[0][len(tt.repo[i])+1:]}
				}
				checkImage(t, s, img, tt.want[i], tt.tags[i], digests)
				for _, n := range append(img.RepoTags, img.RepoDigests...) {
					if g, err := s.Get(n); err != nil || g.ID != img.ID {
						t.Errorf("Get(%q) = %v, %v", n, g, err)
					}
				}
			}
			list, err := s.List()
			if err != nil || len(list) != len(tt.want) {
				t.Fatalf("List = %d images, %v", len(list), err)
			}
		})
	}
}

func indexOfID(t *testing.T, images []v1.Image, id string) int {
	for i, img := range images {
		if configName(t, img) == id {
			return i
		}
	}
	t.Fatalf("unexpected image %s", id)
	return -1
}

func TestImportOCIRepoDigest(t *testing.T) {
	img := randomImage(t, 1)
	s := newTestStore(t, Options{})
	got := importBytes(t, s, ociArchive(t, []v1.Image{img}, []map[string]string{{"io.containerd.image.name": "example.com/app:1"}}))
	want := "example.com/app@" + digestOf(t, img)
	if !slices.Equal(got[0].RepoDigests, []string{want}) {
		t.Fatalf("RepoDigests = %q, want %q", got[0].RepoDigests, want)
	}
}

func TestImportRejects(t *testing.T) {
	tests := []struct {
		desc    string
		data    []byte
		wantErr error
	}{
		{desc: "not an image archive", data: buildTar(t, []tarEntry{file("hello", "x")})},
		{desc: "traversal in archive", data: buildTar(t, []tarEntry{file("../manifest.json", "[]")}), wantErr: ErrUnsafeLayer},
		{desc: "symlink in OCI layout", data: buildTar(t, []tarEntry{file("oci-layout", "{}"), file("index.json", "{}"), symlink("blobs", "/")}), wantErr: ErrUnsafeLayer},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newTestStore(t, Options{})
			_, err := s.Import(context.Background(), bytes.NewReader(tt.data))
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("Import error = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestSharedLayerUnpackedOnce(t *testing.T) {
	base, err := random.Layer(512, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img1, err := mutate.AppendLayers(empty.Image, base)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := random.Layer(512, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img2, err := mutate.AppendLayers(img1, extra)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t, Options{})
	first := importBytes(t, s, dockerArchive(t, map[string]v1.Image{"one:1": img1}))[0]
	dirs, err := s.LayerDirs(first)
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(dirs[0], "marker")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	second := importBytes(t, s, dockerArchive(t, map[string]v1.Image{"two:1": img2}))[0]
	dirs2, err := s.LayerDirs(second)
	if err != nil {
		t.Fatal(err)
	}
	if dirs2[0] != dirs[0] {
		t.Errorf("base layer dirs differ: %s vs %s", dirs2[0], dirs[0])
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("shared layer was unpacked again: %v", err)
	}
	entries, err := os.ReadDir(s.path("layers"))
	if err != nil || len(entries) != 2 {
		t.Errorf("layers/ has %d entries, want 2 (%v)", len(entries), err)
	}
}

func TestNamesAcrossStores(t *testing.T) {
	img := randomImage(t, 1)
	id := configName(t, img)
	daemon := newTestStore(t, Options{})
	cli, err := NewStore(daemon.root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Two importers race on the same content; both must succeed.
	var wg sync.WaitGroup
	for _, s := range []*Store{daemon, cli} {
		wg.Go(func() { importBytes(t, s, dockerArchive(t, map[string]v1.Image{"busybox:1": img})) })
	}
	wg.Wait()

	digest := "docker.io/library/busybox@" + mustGet(t, daemon, "busybox:1").RepoDigests[0][len("docker.io/library/busybox@"):]
	for _, ref := range []string{"busybox:1", "docker.io/library/busybox:1", id, id[len("sha256:"):], digest} {
		if got := mustGet(t, daemon, ref); got.ID != id {
			t.Errorf("Get(%q).ID = %s", ref, got.ID)
		}
	}
	long := "example.com/" + strings.Repeat("a", 200) + ":1"
	if err := daemon.Tag(id, long); err == nil {
		t.Error("Tag with a name too long to store succeeded")
	}
	if _, err := daemon.Get(long); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an unstorable name: %v", err)
	}

	steps := []struct {
		desc    string
		op      func() error
		present map[string]bool // ref -> still resolvable
	}{
		{
			desc:    "tag adds a name",
			op:      func() error { return cli.Tag("busybox:1", "example.com/mine:v1") },
			present: map[string]bool{"busybox:1": true, "example.com/mine:v1": true, id: true},
		},
		{
			desc:    "removing one tag keeps the image",
			op:      func() error { return cli.Remove("busybox:1") },
			present: map[string]bool{"busybox:1": false, "example.com/mine:v1": true, digest: true, id: true},
		},
		{
			desc:    "removing the last tag removes the image",
			op:      func() error { return cli.Remove("example.com/mine:v1") },
			present: map[string]bool{"example.com/mine:v1": false, digest: false, id: false},
		},
	}
	for _, st := range steps {
		t.Run(st.desc, func(t *testing.T) {
			if err := st.op(); err != nil {
				t.Fatal(err)
			}
			for ref, want := range st.present {
				_, err := daemon.Get(ref)
				if want && err != nil {
					t.Errorf("Get(%q): %v", ref, err)
				}
				if !want && !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%q) error = %v, want ErrNotFound", ref, err)
				}
			}
		})
	}
	if _, err := daemon.Get("Invalid Ref"); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrInvalidReference) {
		t.Errorf("Get of an invalid reference: %v", err)
	}
	if err := daemon.Remove(id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove of a removed image: %v", err)
	}
}

func TestRemoveByID(t *testing.T) {
	img := randomImage(t, 1)
	s := newTestStore(t, Options{})
	got := importBytes(t, s, dockerArchive(t, map[string]v1.Image{"a:1": img, "b:1": img}))[0]
	if err := s.Remove(got.ID); err != nil {
		t.Fatal(err)
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Fatalf("List after Remove = %v, %v", list, err)
	}
	if names, _ := os.ReadDir(s.path("names")); len(names) != 0 {
		t.Errorf("%d names left", len(names))
	}
}

func mustGet(t *testing.T, s *Store, ref string) *Image {
	t.Helper()
	img, err := s.Get(ref)
	if err != nil {
		t.Fatalf("Get(%q): %v", ref, err)
	}
	return img
}

// TestImportSizeLimits refuses layers and images whose files would hold
// more than the store allows, and keeps nothing of them.
func TestImportSizeLimits(t *testing.T) {
	// Compressible layers: the archive is far smaller than what unpacks.
	layer := func(name string, size int) v1.Layer {
		data := buildTar(t, []tarEntry{file(name, strings.Repeat("x", size))})
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	img, err := mutate.AppendLayers(empty.Image, layer("a", 40<<10), layer("b", 40<<10))
	if err != nil {
		t.Fatal(err)
	}
	archive := dockerArchive(t, map[string]v1.Image{"big:1": img})
	incompressible, err := random.Layer(40<<10, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	noise, err := mutate.AppendLayers(empty.Image, incompressible)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc    string
		archive []byte
		opts    Options
		want    string
	}{
		{"layer limit", archive, Options{MaxLayerSize: 32 << 10}, "its files hold more than 32768 bytes"},
		{"image limit", archive, Options{MaxImageSize: 64 << 10}, "the image's files hold more than 65536 bytes"},
		{"archive over the image limit", dockerArchive(t, map[string]v1.Image{"noise:1": noise}), Options{MaxImageSize: 16 << 10},
			"its files hold more than 16384 bytes"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := newTestStore(t, tc.opts)
			_, err := s.Import(context.Background(), bytes.NewReader(tc.archive))
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import error = %v, want ErrTooLarge with %q", err, tc.want)
			}
			if imgs, _ := s.List(); len(imgs) != 0 {
				t.Errorf("a refused image was stored: %v", imgs)
			}
			if entries, _ := os.ReadDir(s.path("layers")); len(entries) > 1 {
				t.Errorf("layers left: %v", entries)
			}
		})
	}
	s := newTestStore(t, Options{MaxLayerSize: 64 << 10, MaxImageSize: 128 << 10})
	if _, err := s.Import(context.Background(), bytes.NewReader(archive)); err != nil {
		t.Errorf("an image within the limits: %v", err)
	}
}
