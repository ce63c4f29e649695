package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/peapod/peapod/internal/testutil"
)

const testName = "docker.io/library/busybox:latest"

// testBusybox fetches busybox into a cache shared by test runs, so that only
// the first run on a machine downloads the package.
func testBusybox(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("apt-get not available")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	bin, err := FetchBusybox(ctx, DefaultCacheDir())
	if err != nil {
		t.Fatalf("FetchBusybox: %v", err)
	}
	return bin
}

// readImage builds the image and reads it back through an OCI layout.
func readImage(t *testing.T, busybox string, extra []File, opts ...Option) (v1.ImageIndex, v1.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := BusyboxImage(&buf, busybox, testName, extra, opts...); err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	dir := t.TempDir()
	if err := testutil.Untar(&buf, dir); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index has %d manifests, want 1", len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatalf("reading image: %v", err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("layout does not validate: %v", err)
	}
	return idx, img
}

// layerEntries lists the tar headers of a layer by name.
func layerEntries(t *testing.T, l v1.Layer) map[string]*tar.Header {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("reading layer: %v", err)
		}
		entries[hdr.Name] = hdr
	}
}

func TestBusyboxImage(t *testing.T) {
	busybox := testBusybox(t)
	helper := filepath.Join(t.TempDir(), "helper")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\necho helper\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	idx, img := readImage(t, busybox, []File{{Path: "/usr/local/bin/helper", HostPath: helper, Mode: 0o755}})

	t.Run("index annotations", func(t *testing.T) {
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		ann := im.Manifests[0].Annotations
		if ann[annotationImageName] != testName || ann[annotationRefName] != "latest" {
			t.Errorf("annotations = %v", ann)
		}
		if im.Manifests[0].MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest media type = %s", im.Manifests[0].MediaType)
		}
	})

	t.Run("config", func(t *testing.T) {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cfg.Config.Cmd, []string{"sh"}) {
			t.Errorf("Cmd = %q", cfg.Config.Cmd)
		}
		if !slices.Equal(cfg.Config.Env, []string{defaultPath}) {
			t.Errorf("Env = %q", cfg.Config.Env)
		}
		if cfg.Config.StopSignal != "" {
			t.Errorf("StopSignal = %q, want none", cfg.Config.StopSignal)
		}
		if cfg.OS != "linux" || cfg.Architecture == "" {
			t.Errorf("platform = %s/%s", cfg.OS, cfg.Architecture)
		}
		if len(cfg.RootFS.DiffIDs) != 2 {
			t.Errorf("diff ids = %v, want 2", cfg.RootFS.DiffIDs)
		}
	})

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 2 {
		t.Fatalf("got %d layers, want 2", len(layers))
	}
	base, extra := layerEntries(t, layers[0]), layerEntries(t, layers[1])

	for _, tc := range []struct {
		desc     string
		entries  map[string]*tar.Header
		name     string
		typ      byte
		mode     int64
		linkname string
	}{
		{desc: "busybox binary", entries: base, name: "bin/busybox", typ: tar.TypeReg, mode: 0o755},
		{desc: "sh is a hard link", entries: base, name: "bin/sh", typ: tar.TypeLink, linkname: "bin/busybox"},
		{desc: "ls is a hard link", entries: base, name: "bin/ls", typ: tar.TypeLink, linkname: "bin/busybox"},
		{desc: "passwd", entries: base, name: "etc/passwd", typ: tar.TypeReg, mode: 0o644},
		{desc: "group", entries: base, name: "etc/group", typ: tar.TypeReg, mode: 0o644},
		{desc: "sticky tmp", entries: base, name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		{desc: "var/www", entries: base, name: "var/www/", typ: tar.TypeDir, mode: 0o755},
		{desc: "proc", entries: base, name: "proc/", typ: tar.TypeDir, mode: 0o555},
		{desc: "extra parent dir", entries: extra, name: "usr/local/bin/", typ: tar.TypeDir, mode: 0o755},
		{desc: "extra file", entries: extra, name: "usr/local/bin/helper", typ: tar.TypeReg, mode: 0o755},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			hdr, ok := tc.entries[tc.name]
			if !ok {
				t.Fatalf("%s missing", tc.name)
			}
			if hdr.Typeflag != tc.typ {
				t.Errorf("type = %q, want %q", hdr.Typeflag, tc.typ)
			}
			if tc.mode != 0 && hdr.Mode != tc.mode {
				t.Errorf("mode = %o, want %o", hdr.Mode, tc.mode)
			}
			if hdr.Linkname != tc.linkname {
				t.Errorf("linkname = %q, want %q", hdr.Linkname, tc.linkname)
			}
		})
	}
}

// TestBusyboxImageStopSignal: WithStopSignal sets the image's STOPSIGNAL
// and leaves the rest of the config alone.
func TestBusyboxImageStopSignal(t *testing.T) {
	_, img := readImage(t, testBusybox(t), nil, WithStopSignal("SIGQUIT"))
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.StopSignal != "SIGQUIT" || !slices.Equal(cfg.Config.Cmd, []string{"sh"}) || !slices.Equal(cfg.Config.Env, []string{defaultPath}) {
		t.Errorf("config = %+v, want STOPSIGNAL SIGQUIT, Cmd sh and the default PATH", cfg.Config)
	}
}

func TestBusyboxImageRuns(t *testing.T) {
	busybox := testBusybox(t)
	_, img := readImage(t, busybox, nil)
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("got %d layers, want 1 without extra files", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := t.TempDir()
	if err := testutil.Untar(rc, root); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		desc string
		bin  string
		args []string
		want string
	}{
		{desc: "busybox echo", bin: "bin/busybox", args: []string{"echo", "ok"}, want: "ok\n"},
		{desc: "applet via hard link", bin: "bin/sh", args: []string{"-c", "echo linked"}, want: "linked\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			// A clean environment: nothing from the host's loader path may help.
			cmd := exec.Command(filepath.Join(root, tc.bin), tc.args...)
			cmd.Env = []string{"PATH=/nonexistent"}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("running %s: %v", tc.bin, err)
			}
			if string(out) != tc.want {
				t.Errorf("output = %q, want %q", out, tc.want)
			}
		})
	}
}

func TestBusyboxImageRejects(t *testing.T) {
	busybox := testBusybox(t)
	dynamic := "/bin/sh"
	if err := checkStatic(dynamic); !errors.Is(err, ErrNotStatic) {
		t.Skipf("%s is not dynamically linked here: %v", dynamic, err)
	}
	for _, tc := range []struct {
		desc    string
		busybox string
		name    string
		extra   []File
		is      error
		substr  string
	}{
		{desc: "dynamic binary", busybox: dynamic, name: testName, is: ErrNotStatic},
		{desc: "bad name", busybox: busybox, name: "Not A Name", substr: "parsing image name"},
		{desc: "relative extra path", busybox: busybox, name: testName, extra: []File{{Path: "x", HostPath: busybox}}, substr: "absolute"},
		{desc: "missing extra file", busybox: busybox, name: testName, extra: []File{{Path: "/x", HostPath: "/nonexistent"}}, is: os.ErrNotExist},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			err := BusyboxImage(io.Discard, tc.busybox, tc.name, tc.extra)
			if err == nil {
				t.Fatal("BusyboxImage succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if tc.substr != "" && !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %v does not mention %q", err, tc.substr)
			}
		})
	}
}

func TestFetchBusyboxReusesCache(t *testing.T) {
	cache := t.TempDir()
	bin := filepath.Join(cache, debPackage, "bin", "busybox")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("cached"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A cancelled context proves apt-get is not run.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	got, err := FetchBusybox(ctx, cache)
	if err != nil {
		t.Fatalf("FetchBusybox: %v", err)
	}
	if got != bin {
		t.Errorf("path = %q, want %q", got, bin)
	}
}
