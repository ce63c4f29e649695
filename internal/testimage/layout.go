package testimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations on the index.json entry naming the image, as containerd's
// importer reads them.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = "org.opencontainers.image.ref.name"
)

// ociLayoutFile is the content of the oci-layout marker file.
const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// writeLayout writes img as an OCI image layout tarball: oci-layout,
// index.json (one manifest carrying annotations) and blobs/sha256/<hex> for
// the manifest, the config and every layer.
func writeLayout(w io.Writer, img v1.Image, annotations map[string]string) error {
	manifest, err := img.RawManifest()
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	desc, err := manifestDescriptor(img, int64(len(manifest)), annotations)
	if err != nil {
		return err
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests:     []v1.Descriptor{desc},
	})
	if err != nil {
		return fmt.Errorf("encoding index.json: %w", err)
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return fmt.Errorf("encoding config: %w", err)
	}
	configDigest, err := img.ConfigName()
	if err != nil {
		return fmt.Errorf("hashing config: %w", err)
	}

	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(ociLayoutFile)},
		{"index.json", index},
	} {
		if err := writeEntry(tw, f.name, int64(len(f.data)), bytes.NewReader(f.data)); err != nil {
			return err
		}
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return fmt.Errorf("writing %s: %w", dir, err)
		}
	}
	if err := writeEntry(tw, blobName(desc.Digest), int64(len(manifest)), bytes.NewReader(manifest)); err != nil {
		return err
	}
	if err := writeEntry(tw, blobName(configDigest), int64(len(config)), bytes.NewReader(config)); err != nil {
		return err
	}
	if err := writeLayers(tw, img); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finishing layout tarball: %w", err)
	}
	return nil
}

// manifestDescriptor describes img's manifest for index.json.
func manifestDescriptor(img v1.Image, size int64, annotations map[string]string) (v1.Descriptor, error) {
	digest, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("hashing manifest: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading manifest media type: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("reading config: %w", err)
	}
	return v1.Descriptor{
		MediaType:   mt,
		Size:        size,
		Digest:      digest,
		Annotations: annotations,
		Platform:    &v1.Platform{Architecture: cfg.Architecture, OS: cfg.OS},
	}, nil
}

// writeLayers writes each compressed layer blob.
func writeLayers(tw *tar.Writer, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("listing layers: %w", err)
	}
	for _, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			return fmt.Errorf("hashing layer: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return fmt.Errorf("sizing layer %s: %w", digest, err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("opening layer %s: %w", digest, err)
		}
		err = writeEntry(tw, blobName(digest), size, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func blobName(h v1.Hash) string {
	return "blobs/" + h.Algorithm + "/" + h.Hex
}

// writeEntry writes one regular file of exactly size bytes read from r.
func writeEntry(tw *tar.Writer, name string, size int64, r io.Reader) error {
	if err := tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: epoch,
	}); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("writing %s: wrote %d of %d bytes", name, n, size)
	}
	return nil
}
