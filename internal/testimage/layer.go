package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is a host file to place into an image layer.
type File struct {
	// Path is the absolute path inside the image, e.g. "/usr/bin/helper".
	Path string
	// HostPath is the regular file to copy (symlinks are followed).
	HostPath string
	// Mode holds the permission bits, e.g. 0o755 or 0o644; zero keeps the
	// host file's permission bits.
	Mode int64
}

// epoch is the modification time of every entry, so that the same inputs
// always produce the same layer digests.
var epoch = time.Unix(0, 0).UTC()

// baseDirs are the directories of the busybox layer, parents first.
var baseDirs = []struct {
	name string
	mode int64
}{
	{"bin", 0o755},
	{"dev", 0o755},
	{"etc", 0o755},
	{"proc", 0o555},
	{"root", 0o700},
	{"sys", 0o555},
	{"tmp", 0o1777},
	{"var", 0o755},
	{"var/www", 0o755},
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
	group = "root:x:0:\n" +
		"nogroup:x:65534:\n"
)

// layerWriter accumulates an uncompressed layer tarball.
type layerWriter struct {
	buf bytes.Buffer
	tw  *tar.Writer
}

func newLayerWriter() *layerWriter {
	lw := &layerWriter{}
	lw.tw = tar.NewWriter(&lw.buf)
	return lw
}

func (lw *layerWriter) dir(name string, mode int64) error {
	return lw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: epoch, Format: tar.FormatPAX,
	})
}

func (lw *layerWriter) hardlink(name, target string) error {
	return lw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX,
	})
}

func (lw *layerWriter) bytes(name string, mode int64, data []byte) error {
	if err := lw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX,
	}); err != nil {
		return err
	}
	_, err := lw.tw.Write(data)
	return err
}

// file copies the regular host file hostPath into the layer as name. A zero
// mode keeps the host file's permission bits.
func (lw *layerWriter) file(name, hostPath string, mode int64) error {
	f, err := os.Open(hostPath)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", hostPath)
	}
	if mode == 0 {
		mode = int64(fi.Mode().Perm())
	}
	if err := lw.tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: fi.Size(), ModTime: epoch, Format: tar.FormatPAX,
	}); err != nil {
		return err
	}
	if _, err := io.Copy(lw.tw, f); err != nil {
		return fmt.Errorf("copying %s: %w", hostPath, err)
	}
	return nil
}

// layer closes the tarball, gzips it once and returns it as an OCI layer.
// Compressing here, rather than letting the layer compress lazily, keeps the
// digest and the bytes written out the same by construction.
func (lw *layerWriter) layer() (v1.Layer, error) {
	if err := lw.tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer tarball: %w", err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(lw.buf.Bytes()); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	data := gz.Bytes()
	opener := func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
	l, err := tarball.LayerFromOpener(opener, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("hashing layer: %w", err)
	}
	return l, nil
}

// busyboxLayer holds busybox, one hard link per applet in /bin, the account
// files and the usual top-level directories.
func busyboxLayer(busybox string, names []string) (v1.Layer, error) {
	lw := newLayerWriter()
	for _, d := range baseDirs {
		if err := lw.dir(d.name, d.mode); err != nil {
			return nil, fmt.Errorf("adding /%s: %w", d.name, err)
		}
	}
	if err := lw.file("bin/busybox", busybox, 0o755); err != nil {
		return nil, fmt.Errorf("adding /bin/busybox: %w", err)
	}
	for _, name := range names {
		if err := lw.hardlink("bin/"+name, "bin/busybox"); err != nil {
			return nil, fmt.Errorf("adding /bin/%s: %w", name, err)
		}
	}
	if err := lw.bytes("etc/passwd", 0o644, []byte(passwd)); err != nil {
		return nil, fmt.Errorf("adding /etc/passwd: %w", err)
	}
	if err := lw.bytes("etc/group", 0o644, []byte(group)); err != nil {
		return nil, fmt.Errorf("adding /etc/group: %w", err)
	}
	return lw.layer()
}

// extraLayer holds the caller's files, plus entries for any parent
// directories the busybox layer does not already provide.
func extraLayer(files []File) (v1.Layer, error) {
	have := make(map[string]bool, len(baseDirs))
	for _, d := range baseDirs {
		have[d.name] = true
	}
	lw := newLayerWriter()
	for _, f := range files {
		name, err := imagePath(f.Path)
		if err != nil {
			return nil, err
		}
		for _, dir := range parents(name) {
			if have[dir] {
				continue
			}
			have[dir] = true
			if err := lw.dir(dir, 0o755); err != nil {
				return nil, fmt.Errorf("adding /%s: %w", dir, err)
			}
		}
		if err := lw.file(name, f.HostPath, f.Mode); err != nil {
			return nil, fmt.Errorf("adding /%s: %w", name, err)
		}
	}
	return lw.layer()
}

// imagePath turns an absolute in-image path into a tar entry name.
func imagePath(p string) (string, error) {
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name == "" || !path.IsAbs(p) {
		return "", fmt.Errorf("image path %q must be an absolute file path", p)
	}
	return name, nil
}

// parents returns the ancestors of the entry name, outermost first.
func parents(name string) []string {
	var dirs []string
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}
