package cri

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// Reasons containerd reports for terminated containers.
const (
	reasonCompleted  = "Completed"
	reasonError      = "Error"
	reasonOOMKilled  = "OOMKilled"
	reasonStartError = "StartError"
	reasonUnknown    = "Unknown"
	// startErrorExitCode is what a container that never started reports.
	startErrorExitCode = 128
)

// StartContainer starts a created container.
func (s *Service) StartContainer(ctx context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	defer s.pool.starting()()
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	s.mu.Lock()
	state := c.State
	s.mu.Unlock()
	if state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, fmt.Sprintf("container %s is not in created state: %s", c.ID, state))
	}
	c.starting.Lock()
	defer c.starting.Unlock()
	// Taken before: the process may run and exit before runc returns.
	now := time.Now().UnixNano()
	s.cfg.Failpoints.Hit("container-start")
	err := s.runtimeOf(c.ID).Start(ctx, c.ID)
	s.cfg.Failpoints.Hit("container-started")
	s.mu.Lock()
	if err != nil {
		select {
		case <-c.exited:
		default:
			c.State, c.FinishedAt, c.ExitCode = runtimeapi.ContainerState_CONTAINER_EXITED, now, startErrorExitCode
			c.Reason, c.Message = reasonStartError, err.Error()
			close(c.exited)
		}
		s.mu.Unlock()
		s.logSave("container", c.ID, s.saveContainer(c))
		s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, s.sandboxOf(c))
		return nil, err
	}
	if c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
		// An exit seen before this point already moved it on (and
		// set startedAt).
		c.State, c.StartedAt = runtimeapi.ContainerState_CONTAINER_RUNNING, now
	}
	s.mu.Unlock()
	// The container runs whether or not this save works; the start-up
	// reconciliation asks runc if it is lost.
	s.logSave("container", c.ID, s.saveContainer(c))
	s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, s.sandboxOf(c))
	return &runtimeapi.StartContainerResponse{}, nil
}

// containerExited records a container's exit from conmon's exit file.
func (s *Service) containerExited(c *container) {
	// A start still under way publishes its event first.
	c.starting.Lock()
	c.starting.Unlock() //nolint:staticcheck // a barrier, not a critical section
	exit, ok, err := s.cfg.Conmon.ReadExit(c.ID, s.containerRunDir(c.ID))
	if err != nil {
		s.log.Warn("reading exit file", "container", c.ID, "err", err)
	}
	s.mu.Lock()
	select {
	case <-c.exited:
		s.mu.Unlock()
		return
	default:
	}
	c.State = runtimeapi.ContainerState_CONTAINER_EXITED
	switch {
	case ok:
		c.ExitCode, c.FinishedAt = exit.Code, exit.At.UnixNano()
		switch {
		case exit.OOMKilled:
			c.Reason = reasonOOMKilled
		case exit.Code == 0:
			c.Reason = reasonCompleted
		default:
			c.Reason = reasonError
		}
	default:
		// Gone without a trace (e.g. the host rebooted).
		c.ExitCode, c.FinishedAt, c.Reason = 255, time.Now().UnixNano(), reasonUnknown
	}
	if c.StartedAt == 0 {
		c.StartedAt = c.FinishedAt
	}
	close(c.exited)
	s.mu.Unlock()
	s.logSave("container", c.ID, s.saveContainer(c))
	s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, s.sandboxOf(c))
}

func (s *Service) getContainer(id string) (*container, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	return c, ok
}

func (s *Service) sandboxOf(c *container) *sandbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sandboxes[c.SandboxID]
}
