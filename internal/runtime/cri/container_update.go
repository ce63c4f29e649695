package cri

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// UpdateContainerResources sets a created or running container's new CPU,
// memory and hugepage limits on its cgroup (the OCI runtime's update) and
// keeps them in its record, so that ContainerStatus reports them: the
// kubelet's in-place resize reads them back from there. A container that
// has exited cannot be updated. oom_score_adj is not a cgroup value and
// stays as the container was created with, as in containerd.
func (s *Service) UpdateContainerResources(ctx context.Context, req *runtimeapi.UpdateContainerResourcesRequest) (*runtimeapi.UpdateContainerResourcesResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	if req.GetWindows() != nil {
		return nil, fmt.Errorf("%w: windows resources on a Linux runtime", errdefs.ErrInvalidArgument)
	}
	r := req.GetLinux()
	if r == nil {
		return &runtimeapi.UpdateContainerResourcesResponse{}, nil
	}
	s.mu.Lock()
	state := c.State
	s.mu.Unlock()
	if state != runtimeapi.ContainerState_CONTAINER_CREATED && state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("%w: container %s is in state %s", errdefs.ErrFailedPrecondition, c.ID, state)
	}
	spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{}}}
	if err := applyResources(spec, r, s.hugetlb); err != nil {
		return nil, err
	}
	if err := s.runtimeOf(c.ID).Update(ctx, c.ID, spec.Linux.Resources); err != nil {
		if isGone(err) {
			return nil, fmt.Errorf("%w: container %s is not running: %w", errdefs.ErrFailedPrecondition, c.ID, err)
		}
		return nil, wrapf(err, "updating the resources of container %s", c.ID)
	}
	s.mu.Lock()
	cfg := proto.Clone(c.Config).(*runtimeapi.ContainerConfig)
	if cfg.Linux == nil {
		cfg.Linux = &runtimeapi.LinuxContainerConfig{}
	}
	cfg.Linux.Resources = proto.Clone(r).(*runtimeapi.LinuxContainerResources)
	c.Config = cfg
	s.mu.Unlock()
	if err := s.saveContainer(c); err != nil {
		return nil, wrapf(err, "saving container %s", c.ID)
	}
	return &runtimeapi.UpdateContainerResourcesResponse{}, nil
}
