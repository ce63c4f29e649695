package cri

import (
	"context"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// killWait bounds the wait for a SIGKILLed container to be reported.
const killWait = 10 * time.Second

// StopContainer sends the image's stop signal (SIGTERM by default), waits
// up to timeout seconds, then kills every process of the container.
// Stopping a stopped or unknown container succeeds: the CRI makes the call
// idempotent, and a removed container is as stopped as it gets.
func (s *Service) StopContainer(ctx context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return &runtimeapi.StopContainerResponse{}, nil
	}
	if err := s.stopContainer(ctx, c, time.Duration(req.GetTimeout())*time.Second); err != nil {
		return nil, err
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (s *Service) stopContainer(ctx context.Context, c *container, timeout time.Duration) error {
	s.mu.Lock()
	state := c.State
	s.mu.Unlock()
	select {
	case <-c.exited:
		return nil
	default:
	}
	if state == runtimeapi.ContainerState_CONTAINER_CREATED {
		// Never started: nothing to signal gracefully.
		timeout = 0
	}
	if timeout > 0 {
		sig, _ := c.stopSignal()
		if err := s.runtimeOf(c.ID).Kill(ctx, c.ID, sig, false); err != nil && !isGone(err) {
			return wrapf(err, "stopping container %s", c.ID)
		}
		select {
		case <-c.exited:
			return nil
		case <-time.After(timeout):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	// --all: in a shared PID namespace the init's death does not take the
	// rest of the container's processes with it.
	if err := s.runtimeOf(c.ID).Kill(ctx, c.ID, unix.SIGKILL, true); err != nil && !isGone(err) {
		return wrapf(err, "killing container %s", c.ID)
	}
	select {
	case <-c.exited:
	case <-time.After(killWait):
		if !s.alive(ctx, c.ID) {
			s.containerExited(c)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
