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
//
// Once the containers are killed, the network is torn down while the
// pause stops and goes and the containers are removed, side by side;
// then the sandbox's own steps are undone (the pause's runc container is
// gone by then, and its cgroup, which parents the containers' when the
// runtime made it, goes last).
func (s *Service) RemovePodSandbox(ctx context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return &runtimeapi.RemovePodSandboxResponse{}, nil
	}
	start := time.Now()
	errs := s.stopContainers(ctx, sb)
	if err := errors.Join(errs...); err != nil {
		return nil, wrapf(err, "removing sandbox %s", sb.ID)
	}
	jobs := []func() error{
		func() error { return s.detachNow(ctx, sb) },
		func() error {
			if err := s.stopPause(ctx, sb); err != nil {
				return err
			}
			return s.deleteRuntimeObject(ctx, sb.ID, s.sandboxRunDir(sb.ID), pauseCgroup(sb))
		},
	}
	for _, c := range s.sandboxContainers(sb.ID) {
		jobs = append(jobs, func() error { return s.removeContainer(ctx, c) })
	}
	if err := errors.Join(sideBySide(jobs...)...); err != nil {
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
	s.log.Debug("sandbox removed", "sandbox", sb.ID, "duration", time.Since(start))
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}
