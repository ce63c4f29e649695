package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ReopenContainerLog has the container's conmon close its log file and
// start a new one at the same path, after the caller renamed the old one
// (the kubelet's log rotation). It returns once the new file exists.
func (s *Service) ReopenContainerLog(ctx context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	if err := s.requireRunning(c.ID); err != nil {
		return nil, err
	}
	s.mu.Lock()
	path := c.LogPath
	s.mu.Unlock()
	if path == "" {
		path = filepath.Join(s.containerRunDir(c.ID), "output.log")
	}
	if err := s.cfg.Conmon.ReopenLog(ctx, c.ID); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return &runtimeapi.ReopenContainerLogResponse{}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("container %s: conmon did not reopen its log %s", c.ID, path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
