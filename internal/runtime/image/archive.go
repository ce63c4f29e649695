package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// archiveImage is an image from a docker archive, presented to
// go-containerregistry as a partial.CompressedImageCore with a synthesized
// schema 2 manifest.
type archiveImage struct {
	config   []byte
	manifest []byte
	layers   map[v1.Hash]*archiveLayer
}

// archiveLayer is a layer file in a docker archive, compressed or not.
type archiveLayer struct {
	root *os.Root
	path string
	desc v1.Descriptor
}

// newArchiveImage builds the image described by e and returns it with the
// digest of its synthesized manifest.
func newArchiveImage(root *os.Root, e dockerArchiveEntry) (v1.Image, v1.Hash, error) {
	config, err := root.ReadFile(e.Config)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: int64(len(config)), Digest: sha256Hash(config)},
	}
	ai := &archiveImage{config: config, layers: map[v1.Hash]*archiveLayer{}}
	for _, p := range e.Layers {
		desc, err := describeLayerFile(root, p)
		if err != nil {
			return nil, v1.Hash{}, fmt.Errorf("layer %s: %w", p, err)
		}
		m.Layers = append(m.Layers, desc)
		ai.layers[desc.Digest] = &archiveLayer{root: root, path: p, desc: desc}
	}
	if ai.manifest, err = json.Marshal(m); err != nil {
		return nil, v1.Hash{}, err
	}
	img, err := partial.CompressedToImage(ai)
	return img, sha256Hash(ai.manifest), err
}

// describeLayerFile hashes a layer file and guesses its media type from
// its magic number.
func describeLayerFile(root *os.Root, p string) (v1.Descriptor, error) {
	f, err := root.Open(p)
	if err != nil {
		return v1.Descriptor{}, err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return v1.Descriptor{}, err
	}
	head = head[:n]
	digest, size, err := v1.SHA256(io.MultiReader(bytes.NewReader(head), f))
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt := types.DockerUncompressedLayer
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		mt = types.DockerLayer
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		mt = types.OCILayerZStd
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: digest}, nil
}

func (a *archiveImage) RawConfigFile() ([]byte, error) { return a.config, nil }

func (a *archiveImage) MediaType() (types.MediaType, error) { return types.DockerManifestSchema2, nil }

func (a *archiveImage) RawManifest() ([]byte, error) { return a.manifest, nil }

func (a *archiveImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	l, ok := a.layers[h]
	if !ok {
		return nil, fmt.Errorf("no layer %s in archive", h)
	}
	return l, nil
}

func (l *archiveLayer) Digest() (v1.Hash, error) { return l.desc.Digest, nil }

func (l *archiveLayer) Compressed() (io.ReadCloser, error) { return l.root.Open(l.path) }

func (l *archiveLayer) Size() (int64, error) { return l.desc.Size, nil }

func (l *archiveLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
