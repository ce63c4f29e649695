package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/peapod/peapod/internal/reference"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// The image errors are of errdefs kinds, so callers across the runtime
// seam test only the kind.
var (
	// ErrNotFound is returned when no image matches a reference or ID.
	ErrNotFound = errdefs.New(errdefs.ErrNotFound, "image not found")
	// ErrInvalidReference is wrapped by errors about malformed references.
	ErrInvalidReference = reference.ErrInvalid
	// ErrUnsafeLayer is wrapped by errors about layer entries that would
	// escape the layer directory.
	ErrUnsafeLayer = errors.New("unsafe layer entry")
	// ErrRegistryUnreachable is matched by Pull errors when no registry
	// host could be reached at all (connection, DNS or timeout failures), as
	// opposed to a registry that answered with an error.
	ErrRegistryUnreachable = errdefs.New(errdefs.ErrUnavailable, "registry unreachable")
	// ErrLayerNotFound is returned by LayerDirs when a layer of the image is
	// not unpacked in the store.
	ErrLayerNotFound = errors.New("layer not found")
	// ErrTooLarge is wrapped by errors about layers or images whose files
	// hold more than the store's limits allow.
	ErrTooLarge = errors.New("image too large")
)

// Default size limits, generous: the largest images in common use hold a
// few GiB.
const (
	DefaultMaxLayerSize = 16 << 30
	DefaultMaxImageSize = 32 << 30
)

// Options configures a Store.
type Options struct {
	// HostsDir is a directory laid out like containerd's
	// /etc/containerd/certs.d: HostsDir/<registry host[:port]>/hosts.toml.
	// Empty means every registry is reached directly over HTTPS.
	HostsDir string
	// DockerConfig is the path of a docker config.json whose "auths" supply
	// registry credentials. Empty means none.
	DockerConfig string
	// Log receives progress and diagnostics; nil discards them.
	Log *slog.Logger
	// MaxLayerSize and MaxImageSize bound the bytes the files of one
	// layer, and of all layers an import or pull unpacks, may hold
	// (uncompressed, holes of sparse files included); 0 means the
	// defaults, negative no limit.
	MaxLayerSize, MaxImageSize int64
}

// Auth holds registry credentials, mirroring the CRI AuthConfig. When any
// field is set it takes precedence over Options.DockerConfig.
type Auth struct {
	Username, Password, Auth, IdentityToken, RegistryToken string
}

// Image describes a stored image.
type Image struct {
	ID          string   // "sha256:<hex of the image config digest>"
	RepoTags    []string // normalized, e.g. "docker.io/library/busybox:latest"
	RepoDigests []string // e.g. "docker.io/library/busybox@sha256:<manifest digest>"
	Size        uint64   // sum of the layer sizes as stored in the manifest
	Layers      []string // diffIDs ("sha256:..."), base layer first
	Config      ocispec.ImageConfig
}

// record is the on-disk form of an image; names live in names/ only.
type record struct {
	ID     string              `json:"id"`
	Size   uint64              `json:"size"`
	Layers []string            `json:"layers"`
	Config ocispec.ImageConfig `json:"config"`
}

// Store is an on-disk image store. Its methods are safe for concurrent use,
// also by several processes sharing the same root.
type Store struct {
	root         string
	hostsDir     string
	dockerConfig string
	log          *slog.Logger
	platform     v1.Platform
	maxLayer     int64
	maxImage     int64
	blobGrace    time.Duration // PruneLayers keeps younger blobs
}

// NewStore opens the store at root, creating its directories if needed.
func NewStore(root string, opts Options) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("image store root: %w", err)
	}
	s := &Store{
		root:         root,
		hostsDir:     opts.HostsDir,
		dockerConfig: opts.DockerConfig,
		log:          opts.Log,
		platform:     defaultPlatform(),
		maxLayer:     sizeLimit(opts.MaxLayerSize, DefaultMaxLayerSize),
		maxImage:     sizeLimit(opts.MaxImageSize, DefaultMaxImageSize),
		blobGrace:    blobGrace,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	for _, dir := range []string{s.blobDir(), s.path("layers"), s.path("images"), s.path("names"), s.root} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating image store: %w", err)
		}
		removeStaleTmp(dir)
	}
	return s, nil
}

// sizeLimit turns an option into a limit: 0 is the default, negative none.
func sizeLimit(v, def int64) int64 {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

func (s *Store) blobDir() string { return s.path("blobs", "sha256") }

func (s *Store) layerDir(diffID string) string {
	return s.path("layers", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) recordPath(id string) string {
	return s.path("images", strings.TrimPrefix(id, "sha256:")+".json")
}

// Get returns the image named by a reference (short or normalized, tag or
// repo digest) or by its ID ("sha256:<hex>" or the bare hex). It returns an
// error wrapping ErrNotFound if there is none.
func (s *Store) Get(refOrID string) (*Image, error) {
	id, err := s.resolve(refOrID)
	if err != nil {
		return nil, err
	}
	rec, err := s.readRecord(id)
	if err != nil {
		return nil, err
	}
	names, err := s.readNames()
	if err != nil {
		return nil, err
	}
	return rec.image(names), nil
}

// List returns all stored images, ordered by ID.
func (s *Store) List() ([]*Image, error) {
	entries, err := os.ReadDir(s.path("images"))
	if err != nil {
		return nil, fmt.Errorf("listing images: %w", err)
	}
	names, err := s.readNames()
	if err != nil {
		return nil, err
	}
	var images []*Image
	for _, e := range entries {
		hex, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || !reference.IsHexID(hex) {
			continue
		}
		rec, err := s.readRecord("sha256:" + hex)
		if errors.Is(err, ErrNotFound) {
			continue // removed since ReadDir
		}
		if err != nil {
			return nil, err
		}
		images = append(images, rec.image(names))
	}
	return images, nil
}

// LayerDirs returns the unpacked directories of img's layers, base layer
// first. Overlayfs wants lowerdir top first, so callers reverse the list.
func (s *Store) LayerDirs(img *Image) ([]string, error) {
	dirs := make([]string, 0, len(img.Layers))
	for _, l := range img.Layers {
		hex, ok := strings.CutPrefix(l, "sha256:")
		if !ok || !reference.IsHexID(hex) {
			return nil, fmt.Errorf("layer %q: %w", l, ErrLayerNotFound)
		}
		dir := s.layerDir(l)
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("layer %s of image %s: %w", l, img.ID, ErrLayerNotFound)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// resolve maps a reference or ID to an image ID.
func (s *Store) resolve(refOrID string) (string, error) {
	if id, ok := parseID(refOrID); ok {
		return id, nil
	}
	name, err := reference.Normalize(refOrID)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	id, err := s.readName(name)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENAMETOOLONG) {
		return "", fmt.Errorf("%w: %s", ErrNotFound, refOrID)
	}
	return id, err
}

// parseID accepts "sha256:<64 hex>" or the bare hex and returns the former.
func parseID(s string) (string, bool) {
	hex := strings.TrimPrefix(s, "sha256:")
	if !reference.IsHexID(hex) {
		return "", false
	}
	return "sha256:" + hex, true
}

func (s *Store) readRecord(id string) (*record, error) {
	data, err := os.ReadFile(s.recordPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", id, err)
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decoding image %s: %w", id, err)
	}
	return &rec, nil
}

// image builds the public view of rec, taking its names from names
// (reference -> image ID).
func (rec *record) image(names map[string]string) *Image {
	img := &Image{ID: rec.ID, Size: rec.Size, Layers: rec.Layers, Config: rec.Config}
	for name, id := range names {
		if id != rec.ID {
			continue
		}
		if strings.Contains(name, "@") {
			img.RepoDigests = append(img.RepoDigests, name)
		} else {
			img.RepoTags = append(img.RepoTags, name)
		}
	}
	sort.Strings(img.RepoTags)
	sort.Strings(img.RepoDigests)
	return img
}
