package cri

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// Image volumes (a CRI mount that names an image instead of a host path,
// KEP-4639): the image's layers, already pulled, are mounted read-only
// under the container's directory, one view per mount, and the container
// binds the view, or its image_sub_path, in. Like the recursive read-only
// sources, the node's copies are released once the container exists (its
// mount namespace holds its own), and the image's layers count as in use
// while the container exists.

// imageVolumeDir holds a container's image volume views.
const imageVolumeDir = "imagevolumes"

// imageVolume is one image volume of a container being created.
type imageVolume struct {
	source  string   // what the container binds: the view or a path in it
	imageID string   // the image's ID, reported as the mount's image_ref
	layers  []string // the image's layers (diff IDs), kept while in use
}

// mountImageVolume makes the view of mount i of container id.
func (s *Service) mountImageVolume(id string, i int, m *runtimeapi.Mount) (*imageVolume, error) {
	name := m.GetImage().GetImage()
	if !m.GetReadonly() {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: image volume %q must be read-only", m.GetContainerPath(), name)
	}
	if m.GetHostPath() != "" {
		return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: a mount names either a host path or an image, not both", m.GetContainerPath())
	}
	img, err := s.cfg.Images.Get(name)
	if err != nil {
		return nil, wrapf(err, "mount %q: image volume %q", m.GetContainerPath(), name)
	}
	dirs, err := s.cfg.Images.LayerDirs(img)
	if err != nil {
		return nil, wrapf(err, "mount %q: layers of image %q", m.GetContainerPath(), name)
	}
	view := filepath.Join(s.containerDir(id), imageVolumeDir, strconv.Itoa(i))
	if err := rootfs.MountReadOnly(view, dirs); err != nil {
		return nil, fmt.Errorf("mount %q: %w", m.GetContainerPath(), err)
	}
	v := &imageVolume{source: view, imageID: img.ID, layers: img.Layers}
	if sub := m.GetImageSubPath(); sub != "" {
		// Symbolic links in the image resolve inside it, never on the
		// node.
		p, err := securejoin.SecureJoin(view, sub)
		if err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: sub path %q of image %q: %v", m.GetContainerPath(), sub, name, err)
		}
		if _, err := os.Stat(p); err != nil {
			return nil, errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: sub path %q does not exist in image %q", m.GetContainerPath(), sub, name)
		}
		v.source = p
	}
	return v, nil
}

// reportedMounts are the container's mounts as ContainerStatus reports
// them: as asked for, with each image volume's image_ref set to the ID of
// the image it mounted.
func reportedMounts(mounts []*runtimeapi.Mount, imageIDs map[int]string) []*runtimeapi.Mount {
	if len(imageIDs) == 0 {
		return mounts
	}
	out := make([]*runtimeapi.Mount, len(mounts))
	for i, m := range mounts {
		out[i] = m
		if id, ok := imageIDs[i]; ok {
			c := proto.Clone(m).(*runtimeapi.Mount)
			c.Image.ImageRef = id
			out[i] = c
		}
	}
	return out
}
