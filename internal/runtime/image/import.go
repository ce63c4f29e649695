package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/peapod/peapod/internal/reference"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const containerdNameAnnotation = "io.containerd.image.name"

// Import stores the images of an OCI-layout or docker-archive ("docker
// save") tarball, optionally gzip-compressed; the format is detected from
// the contents. It needs no network.
//
// Names come from a docker archive's RepoTags, or from an OCI layout's
// io.containerd.image.name annotation, else its
// org.opencontainers.image.ref.name. The latter may be just a tag with no
// repository; it is used as a reference only if it parses as one, and an
// image without a usable name is stored unnamed, reachable by ID.
func (s *Store) Import(ctx context.Context, r io.Reader) ([]*Image, error) {
	dir, err := os.MkdirTemp(s.root, tmpPrefix+"import-")
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	defer os.RemoveAll(dir)
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("importing: %w", err)
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	// The layer unpacker is also a safe extractor for untrusted archives.
	// The archive holds the compressed layers: it may not hold more than
	// the image may.
	if _, err := applyLayer(ctx, dir, r, s.maxImage); err != nil {
		return nil, fmt.Errorf("importing: reading archive: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	defer root.Close()
	var images []*Image
	switch {
	case exists(root, "oci-layout") && exists(root, "index.json"):
		images, err = s.importLayout(ctx, dir)
	case exists(root, "manifest.json"):
		images, err = s.importDockerArchive(ctx, root)
	default:
		return nil, errors.New("importing: archive is neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)")
	}
	if err != nil {
		return nil, fmt.Errorf("importing: %w", err)
	}
	if len(images) == 0 {
		return nil, errors.New("importing: archive holds no image")
	}
	return images, nil
}

func exists(root *os.Root, name string) bool {
	fi, err := root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

// importLayout stores every image named in an OCI layout's index.json.
func (s *Store) importLayout(ctx context.Context, dir string) ([]*Image, error) {
	// go-containerregistry reads the layout through plain paths, so make
	// sure none of them can lead outside it.
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			err = fmt.Errorf("%w: OCI layout contains symlink %s", ErrUnsafeLayer, p[len(dir):])
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading OCI layout index: %w", err)
	}
	var images []*Image
	for _, desc := range im.Manifests {
		var img v1.Image
		var extra [][]byte
		switch {
		case desc.MediaType.IsImage():
			img, err = idx.Image(desc.Digest)
		case desc.MediaType.IsIndex():
			img, extra, err = s.platformImage(idx, desc.Digest)
		default:
			s.log.Debug("skipping non-image manifest", "digest", desc.Digest, "mediaType", desc.MediaType)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		stored, err := s.commit(ctx, img, desc.Digest, s.layoutRefs(desc.Annotations), extra...)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
		}
		images = append(images, stored)
	}
	return images, nil
}

// platformImage picks this machine's image from a nested index and also
// returns the raw index to keep.
func (s *Store) platformImage(parent v1.ImageIndex, h v1.Hash) (v1.Image, [][]byte, error) {
	idx, err := parent.ImageIndex(h)
	if err != nil {
		return nil, nil, err
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	var images []v1.Descriptor
	for _, d := range im.Manifests {
		if d.MediaType.IsImage() {
			images = append(images, d)
		}
	}
	for _, d := range images {
		if d.Platform != nil && d.Platform.Satisfies(s.platform) {
			img, err := idx.Image(d.Digest)
			return img, [][]byte{raw}, err
		}
	}
	if len(images) == 1 && images[0].Platform == nil {
		img, err := idx.Image(images[0].Digest)
		return img, [][]byte{raw}, err
	}
	return nil, nil, fmt.Errorf("no image for platform %s", s.platform)
}

// layoutRefs names an image from its index.json annotations.
func (s *Store) layoutRefs(ann map[string]string) []reference.Reference {
	for _, key := range []string{containerdNameAnnotation, ocispec.AnnotationRefName} {
		if ann[key] == "" {
			continue
		}
		r, err := reference.Parse(ann[key])
		if err == nil {
			return []reference.Reference{r}
		}
		s.log.Warn("ignoring unusable image name", "annotation", key, "value", ann[key], "err", err)
	}
	return nil
}

// dockerArchiveEntry is one element of a docker archive's manifest.json.
type dockerArchiveEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// importDockerArchive stores the images listed in manifest.json. Docker
// archives carry no registry manifest, so one is built from the files as
// stored; its digest becomes the image's repo digest.
func (s *Store) importDockerArchive(ctx context.Context, root *os.Root) ([]*Image, error) {
	data, err := root.ReadFile("manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerArchiveEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("parsing manifest.json: %w", err)
	}
	var images []*Image
	for _, e := range entries {
		img, digest, err := newArchiveImage(root, e)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", e.Config, err)
		}
		var refs []reference.Reference
		for _, tag := range e.RepoTags {
			r, err := reference.Parse(tag)
			if err != nil {
				s.log.Warn("ignoring unusable image name", "name", tag, "err", err)
				continue
			}
			refs = append(refs, r)
		}
		stored, err := s.commit(ctx, img, digest, refs)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", e.Config, err)
		}
		images = append(images, stored)
	}
	return images, nil
}
