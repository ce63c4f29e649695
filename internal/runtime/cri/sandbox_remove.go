package cri

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// RemovePodSandbox removes a sandbox and all its containers, leaving no
// mount, namespace, cgroup, process or directory behind. Removing an unknown
// sandbox succeeds. A removal that fails part way keeps the sandbox, so
// that calling again finishes it.
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	start := time.Now()
	if _, err := s.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.ID}); err != nil {
		return nil, err
	}
	stopped := time.Since(start)
	var errs []error
	for _, c := range s.sandboxContainers(sb.ID) {
		if err := s.removeContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, wrapf(err, "removing sandbox %s", sb.ID)
	}
	s.cfg.Failpoints.Hit("sandbox-remove")
	if err := undoSteps(ctx, s, sandboxSteps, "", sb); err != nil {
		return nil, wrapf(err, "removing sandbox %s", sb.ID)
	}
	// Out of the map before the record goes, so a late exit finds
	// nothing to save.
	s.mu.Lock()
	delete(s.sandboxes, sb.ID)
	s.names.release(sandboxName(sb.Config.GetMetadata()), sb.ID)
	s.mu.Unlock()
	if err := s.dropSandbox(sb); err != nil {
		return nil, wrapf(err, "removing sandbox %s", sb.ID)
	}
	s.log.Debug("sandbox removed", "sandbox", sb.ID, "stop", stopped, "duration", time.Since(start))
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
