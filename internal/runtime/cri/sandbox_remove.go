package cri

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/network"
)

// RemovePodSandbox removes a sandbox and all its containers, leaving no
// mount, namespace, cgroup, process or directory behind. Removing an unknown
// sandbox succeeds.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID}); err != nil {
		return nil, err
	}
	var errs []error
	for _, c := range s.sandboxContainers(sb.ID) {
		if err := s.removeContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs,
		s.cfg.Runtime.Delete(ctx, sb.ID, true),
		s.cfg.Conmon.Cleanup(sb.ID),
		unmountAll(filepath.Join(s.sandboxRunDir(sb.ID), shmDir)),
	)
	if sb.NetNS != "" {
		errs = append(errs, network.RemoveNetNS(sb.NetNS))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, wrapf(err, "removing sandbox %s", sb.ID)
	}
	// Out of the map first, so a late exit cannot write the record back.
	s.mu.Lock()
	delete(s.sandboxes, sb.ID)
	s.mu.Unlock()
	if err := errors.Join(os.RemoveAll(s.sandboxRunDir(sb.ID)), os.RemoveAll(s.sandboxDir(sb.ID))); err != nil {
		return nil, wrapf(err, "removing sandbox %s directories", sb.ID)
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
