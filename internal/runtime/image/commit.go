package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/peapod/peapod/internal/reference"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// commit stores img with its layers and names it by refs. digest is the
// digest the image was resolved from (an index digest for multi-platform
// images); each tag in refs also yields the repo digest <repo>@<digest>.
// extra holds further blobs to keep, such as the raw index.
func (s *Store) commit(ctx context.Context, img v1.Image, digest v1.Hash, refs []reference.Reference, extra ...[]byte) (*Image, error) {
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(rawConfig, &cfg); err != nil {
		return nil, fmt.Errorf("decoding image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading layers: %w", err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		return nil, fmt.Errorf("image has %d layers but its config lists %d", len(layers), len(cfg.RootFS.DiffIDs))
	}
	rec := &record{Config: cfg.Config}
	budget := &imageBudget{left: s.maxImage}
	for i, l := range layers {
		// Take diffIDs from the config: asking some v1.Layers for theirs
		// hashes the whole layer.
		diffID, err := v1.NewHash(cfg.RootFS.DiffIDs[i].String())
		if err != nil {
			return nil, fmt.Errorf("image config: %w", err)
		}
		if err := s.ensureLayer(ctx, l, diffID, budget); err != nil {
			return nil, err
		}
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer %s size: %w", diffID, err)
		}
		rec.Layers = append(rec.Layers, diffID.String())
		rec.Size += uint64(size)
	}
	for _, blob := range append([][]byte{rawManifest, rawConfig}, extra...) {
		if err := s.writeBlob(blob); err != nil {
			return nil, err
		}
	}
	rec.ID = "sha256:" + sha256Hex(rawConfig)
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encoding image record: %w", err)
	}

	var names []string
	for _, r := range refs {
		names = append(names, r.String())
		if r.Digest == "" && digest != (v1.Hash{}) {
			names = append(names, r.Repo()+"@"+digest.String())
		}
	}
	// PruneLayers, under the store lock, may remove a layer unpacked (or
	// found) above that no image names yet: unpack it again and retry.
	var unlock func()
	for attempt := 0; ; attempt++ {
		if unlock, err = s.lock(); err != nil {
			return nil, err
		}
		missing := -1
		for i, l := range rec.Layers {
			if _, err := os.Stat(s.layerDir(l)); err != nil {
				missing = i
				break
			}
		}
		if missing < 0 {
			break
		}
		unlock()
		if attempt == 3 {
			return nil, fmt.Errorf("layer %s keeps being removed while the image is stored: %w", rec.Layers[missing], ErrLayerNotFound)
		}
		diffID, _ := v1.NewHash(rec.Layers[missing])
		if err := s.ensureLayer(ctx, layers[missing], diffID, &imageBudget{left: s.maxImage}); err != nil {
			return nil, err
		}
	}
	defer unlock()
	if err := writeFileAtomic(s.recordPath(rec.ID), data); err != nil {
		return nil, err
	}
	if err := s.setNames(rec.ID, names); err != nil {
		return nil, err
	}
	s.log.Info("stored image", "id", rec.ID, "names", names)
	known, err := s.readNames()
	if err != nil {
		return nil, err
	}
	return rec.image(known), nil
}

// imageBudget is what is left of the image size limit for the layers of
// one commit still to unpack (0 at the start: no limit).
type imageBudget struct {
	left int64
}

// layerLimit is the limit for the next layer: the layer limit, or less if
// the image budget is smaller.
func (s *Store) layerLimit(b *imageBudget) int64 {
	switch {
	case b.left == 0:
		return s.maxLayer
	case s.maxLayer == 0 || b.left < s.maxLayer:
		return b.left
	}
	return s.maxLayer
}

// ensureLayer unpacks l into layers/<diffid> unless that already exists.
// It unpacks into a temporary sibling directory and renames it into place;
// if another process won the race, its copy is kept and ours discarded.
func (s *Store) ensureLayer(ctx context.Context, l v1.Layer, diffID v1.Hash, budget *imageBudget) error {
	dst := s.layerDir(diffID.String())
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	s.log.Debug("unpacking layer", "diffID", diffID)
	tmp, err := os.MkdirTemp(filepath.Dir(dst), tmpPrefix+diffID.Hex[:12]+"-")
	if err != nil {
		return fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	limit := s.layerLimit(budget)
	used, err := unpackVerified(ctx, tmp, l, diffID, limit)
	if errors.Is(err, ErrTooLarge) && limit < s.maxLayer {
		err = fmt.Errorf("%w: the image's files hold more than %d bytes", ErrTooLarge, s.maxImage)
	}
	if err != nil {
		return fmt.Errorf("unpacking layer %s: %w", diffID, err)
	}
	if budget.left > 0 {
		budget.left -= used
	}
	if moved, err := renameNoReplace(tmp, dst); err != nil {
		return err
	} else if !moved {
		s.log.Debug("layer was unpacked concurrently", "diffID", diffID)
	}
	return nil
}

// unpackVerified applies l's uncompressed tar to dir, at most limit bytes
// of files, checks that the stream hashes to diffID and returns the bytes
// unpacked.
func unpackVerified(ctx context.Context, dir string, l v1.Layer, diffID v1.Hash, limit int64) (int64, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	h := sha256.New()
	r := io.TeeReader(rc, h)
	used, err := applyLayer(ctx, dir, r, limit)
	if err != nil {
		return used, err
	}
	// Hash the tar padding too; draining also lets a verifying reader
	// report a digest mismatch of the compressed blob. What follows the
	// tar's end is bounded too.
	if _, err := io.Copy(io.Discard, io.LimitReader(r, 1<<20)); err != nil {
		return used, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != diffID.Hex {
		return used, fmt.Errorf("content has diffID sha256:%s", got)
	}
	return used, nil
}

// writeBlob stores data under blobs/sha256/<digest hex>.
func (s *Store) writeBlob(data []byte) error {
	p := filepath.Join(s.blobDir(), sha256Hex(data))
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return writeFileAtomic(p, data)
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func sha256Hash(data []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: sha256Hex(data)}
}
