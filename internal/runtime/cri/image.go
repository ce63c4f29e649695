package cri

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/image"
)

// PullImage pulls an image and returns its ID, which CreateContainer takes.
func (s *Service) PullImage(ctx context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	var auth *image.Auth
	if a := req.GetAuth(); a != nil {
		auth = &image.Auth{Username: a.Username, Password: a.Password, Auth: a.Auth, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	}
	img, err := s.cfg.Images.Pull(ctx, req.GetImage().GetImage(), auth)
	if err != nil {
		return nil, err
	}
	return &runtimeapi.PullImageResponse{ImageRef: img.ID}, nil
}

// ImageStatus returns the image, or a nil Image when it is not present.
func (s *Service) ImageStatus(ctx context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	img, err := s.cfg.Images.Get(req.GetImage().GetImage())
	if errors.Is(err, image.ErrNotFound) {
		return &runtimeapi.ImageStatusResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	return &runtimeapi.ImageStatusResponse{Image: criImage(img)}, nil
}

// ListImages lists local images.
func (s *Service) ListImages(ctx context.Context, req *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	imgs, err := s.cfg.Images.List()
	if err != nil {
		return nil, err
	}
	resp := &runtimeapi.ListImagesResponse{}
	for _, img := range imgs {
		resp.Images = append(resp.Images, criImage(img))
	}
	return resp, nil
}

// RemoveImage removes an image; an absent one is fine. Its layers go too,
// but for those containers still use (as containerd keeps their
// snapshots): they go with a later removal once those are gone.
func (s *Service) RemoveImage(ctx context.Context, req *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	if err := s.cfg.Images.Remove(req.GetImage().GetImage()); err != nil && !errors.Is(err, image.ErrNotFound) {
		return nil, err
	}
	if err := s.pruneLayers(); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveImageResponse{}, nil
}

// pruneLayers removes the layers no image and no container uses.
func (s *Service) pruneLayers() error {
	_, err := s.cfg.Images.PruneLayers(s.layersInUse())
	return err
}

// layersInUse reports the layers of every container the runtime has.
func (s *Service) layersInUse() func(diffID string) bool {
	s.mu.Lock()
	used := map[string]bool{}
	var refs []string
	for _, c := range s.containers {
		for _, l := range c.Layers {
			used[l] = true
		}
		for _, l := range c.VolumeLayers {
			used[l] = true
		}
		if len(c.Layers) == 0 {
			refs = append(refs, c.ImageRef) // a record from before Layers
		}
	}
	s.mu.Unlock()
	for _, ref := range refs {
		img, err := s.cfg.Images.Get(ref)
		if err != nil {
			// Its layers are unknown: keep every layer.
			return func(string) bool { return true }
		}
		for _, l := range img.Layers {
			used[l] = true
		}
	}
	return func(diffID string) bool { return used[diffID] }
}

func criImage(img *image.Image) *runtimeapi.Image {
	out := &runtimeapi.Image{Id: img.ID, RepoTags: img.RepoTags, RepoDigests: img.RepoDigests, Size: img.Size}
	user, _, _ := strings.Cut(img.Config.User, ":")
	if uid, err := strconv.ParseInt(user, 10, 64); err == nil {
		out.Uid = &runtimeapi.Int64Value{Value: uid}
	} else if user != "" {
		out.Username = user
	}
	return out
}

// ImageFsInfo reports the file system of the image store: the bytes and
// inodes its files use.
func (s *Service) ImageFsInfo(ctx context.Context, req *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	used, inodes, err := s.cfg.Images.Usage()
	if err != nil {
		return nil, err
	}
	fs := &runtimeapi.FilesystemUsage{
		Timestamp:  time.Now().UnixNano(),
		FsId:       &runtimeapi.FilesystemIdentifier{Mountpoint: s.cfg.Images.Root()},
		UsedBytes:  &runtimeapi.UInt64Value{Value: used},
		InodesUsed: &runtimeapi.UInt64Value{Value: inodes},
	}
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{fs}}, nil
}
