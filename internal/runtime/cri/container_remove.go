package cri

import (
	"context"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
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

// removeContainer stops c and unmakes it; on failure it stays, so that
// calling again finishes the removal.
func (s *Service) removeContainer(ctx context.Context, c *container) error {
	if err := s.stopContainer(ctx, c, 0); err != nil {
		return err
	}
	if err := undoSteps(ctx, s, containerSteps, "", c); err != nil {
		return wrapf(err, "removing container %s", c.ID)
	}
	// Out of the map before the record goes, so a late exit finds
	// nothing to save.
	s.mu.Lock()
	delete(s.containers, c.ID)
	s.names.release(c.name, c.ID)
	sb := s.sandboxes[c.SandboxID]
	s.mu.Unlock()
	if err := s.dropContainer(c); err != nil {
		return wrapf(err, "removing container %s", c.ID)
	}
	s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_DELETED_EVENT, sb)
	return nil
}
