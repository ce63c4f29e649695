package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/pidfd"
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
		if err := s.signalContainer(ctx, c, sig, false); err != nil {
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
	if err := s.signalContainer(ctx, c, unix.SIGKILL, true); err != nil {
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

// signalContainer sends sig to the container's init process, and with
// all to every process of the container. A container gone already is no
// error.
//
// The daemon signals the init itself, through a pidfd, instead of running
// `runc kill` (a process start, ~10 ms of every pod's deletion): its PID
// is recorded, and the process the pidfd holds is checked to be in the
// container's cgroup, so that a PID reused after the init's exit is never
// signalled. With all, that is enough where the container has its own PID
// namespace, whose processes the kernel kills with its init; in a shared
// (pod, node or target) namespace they are not, and runc signals each.
func (s *Service) signalContainer(ctx context.Context, c *container, sig unix.Signal, all bool) error {
	s.mu.Lock()
	pid := c.PID
	s.mu.Unlock()
	ownPIDNS := c.Config.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid() == runtimeapi.NamespaceMode_CONTAINER
	if pid > 0 && (!all || sig == unix.SIGKILL && ownPIDNS) {
		switch err := signalInit(pid, c.ID, sig); {
		case err == nil, errors.Is(err, pidfd.ErrGone):
			return nil
		default:
			s.log.Debug("signalling the container's init through a pidfd; asking the runtime", "container", c.ID, "err", err)
		}
	}
	if err := s.runtimeOf(c.ID).Kill(ctx, c.ID, sig, all); err != nil && !isGone(err) {
		return err
	}
	return nil
}

// errNotContainer: the PID is not (or no longer) the container's.
var errNotContainer = errors.New("the process is not in the container's cgroup")

// signalInit signals pid, the init of the container id, through a pidfd.
func signalInit(pid int, id string, sig unix.Signal) error {
	p, err := pidfd.Open(pid)
	if err != nil {
		return err
	}
	defer p.Close()
	// Read once the pidfd pins the process: it is the one in /proc.
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return pidfd.ErrGone
		}
		return err
	}
	if !strings.Contains(string(cg), id) {
		return errNotContainer
	}
	return p.Signal(sig)
}
