package image

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/peapod/peapod/internal/reference"
)

// blobGrace keeps young blobs: a pull writes them before the record that
// names them, and nothing reads them, so late removal costs nothing.
const blobGrace = time.Minute

// removingPrefix names a layer being removed; NewStore finishes the job.
const removingPrefix = tmpPrefix + "rm-"

// PruneLayers removes the unpacked layers no stored image names and inUse
// does not report (layers of containers whose image was removed), and the
// blobs no stored image names, and returns the diffIDs of the removed
// layers. It is the store's garbage collection, run after Remove.
func (s *Store) PruneLayers(inUse func(diffID string) bool) ([]string, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	imgs, err := s.List()
	if err != nil {
		return nil, err
	}
	names, err := s.readNames()
	if err != nil {
		return nil, err
	}
	keepLayers, keepBlobs := map[string]bool{}, map[string]bool{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			keepLayers[strings.TrimPrefix(l, "sha256:")] = true
		}
		keepBlobs[strings.TrimPrefix(img.ID, "sha256:")] = true
	}
	for name := range names {
		if _, digest, ok := strings.Cut(name, "@sha256:"); ok {
			keepBlobs[digest] = true
		}
	}
	entries, err := os.ReadDir(s.path("layers"))
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	now := time.Now()
	var removed []string
	for _, e := range entries {
		hex := e.Name()
		if !reference.IsHexID(hex) || keepLayers[hex] || inUse != nil && inUse("sha256:"+hex) {
			continue
		}
		if err := removeTree(s.layerDir(hex)); err != nil {
			return removed, fmt.Errorf("removing layer %s: %w", hex, err)
		}
		s.log.Info("removed unused layer", "diffID", "sha256:"+hex)
		removed = append(removed, "sha256:"+hex)
	}
	// Blobs (manifests, configs, indexes) are kept for the images that
	// name them; nothing reads the others.
	blobs, err := os.ReadDir(s.blobDir())
	if err != nil {
		return removed, fmt.Errorf("listing blobs: %w", err)
	}
	for _, e := range blobs {
		if !reference.IsHexID(e.Name()) || keepBlobs[e.Name()] {
			continue
		}
		if info, err := e.Info(); err != nil || now.Sub(info.ModTime()) < s.blobGrace {
			continue // a pull writes blobs before its record
		}
		if err := removeFile(filepath.Join(s.blobDir(), e.Name())); err != nil {
			return removed, err
		}
	}
	return removed, nil
}

// removeTree removes a layer directory: renamed away first, so that a
// crash half way leaves a temporary name NewStore cleans, never a
// half-removed layer under its real name.
func removeTree(dir string) error {
	tmp := filepath.Join(filepath.Dir(dir), removingPrefix+filepath.Base(dir))
	if err := os.Rename(dir, tmp); err != nil {
		return err
	}
	return os.RemoveAll(tmp)
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// Usage is what the store's files take on disk: bytes (allocated blocks)
// and inodes.
func (s *Store) Usage() (bytes, inodes uint64, err error) {
	err = filepath.WalkDir(s.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished while walking
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) == nil {
			bytes += uint64(st.Blocks) * 512
			inodes++
		}
		return nil
	})
	return bytes, inodes, err
}
