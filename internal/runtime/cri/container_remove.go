package cri

import (
	"context"
	"errors"
	"os"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// RemoveContainer removes a container, killing it first if it runs.
// Removing an unknown container succeeds.
func (s *Service) RemoveContainer(ctx context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return &runtimeapi.RemoveContainerResponse{}, nil
	}
	if err := s.removeContainer(ctx, c); err != nil {
		return nil, err
	}
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (s *Service) removeContainer(ctx context.Context, c *container) error {
	if err := s.stopContainer(ctx, c, 0); err != nil {
		return err
	}
	err := errors.Join(
		s.cfg.Runtime.Delete(ctx, c.ID, true),
		s.cfg.Conmon.Cleanup(c.ID),
		rootfs.Unmount(s.containerDir(c.ID)),
	)
	if err != nil {
		return wrapf(err, "removing container %s", c.ID)
	}
	// Out of the map first, so a late exit cannot write the record back.
	s.mu.Lock()
	delete(s.containers, c.ID)
	sb := s.sandboxes[c.SandboxID]
	s.mu.Unlock()
	if err := errors.Join(os.RemoveAll(s.containerRunDir(c.ID)), os.RemoveAll(s.containerDir(c.ID))); err != nil {
		return wrapf(err, "removing container %s directories", c.ID)
	}
	s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, sb)
	return nil
}
