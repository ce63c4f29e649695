package cri

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/runtime/pidfd"
)

// StopPodSandbox stops every container of the sandbox (immediately: the
// kubelet stops them gracefully before), then stops the pause process
// while the network is torn down. It is idempotent.
func (s *Service) StopPodSandbox(ctx context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		// Already removed: stopping is a no-op, as CRI asks.
		return &runtimeapi.StopPodSandboxResponse{}, nil
	}
	errs := s.stopContainers(ctx, sb)
	errs = append(errs, sideBySide(
		func() error { return s.stopPause(ctx, sb) },
		func() error { return s.detachNow(ctx, sb) },
	)...)
	if err := errors.Join(errs...); err != nil {
		return nil, wrapf(err, "stopping sandbox %s", sb.ID)
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

// stopContainers ends the sandbox's streaming sessions and kills its
// containers.
func (s *Service) stopContainers(ctx context.Context, sb *sandbox) []error {
	s.sessions.closeSandbox(sb.ID)
	var errs []error
	for _, c := range s.sandboxContainers(sb.ID) {
		if err := s.stopContainer(ctx, c, 0); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// detachNow tears down the sandbox's network attachment, if it has one,
// and records that it has none.
func (s *Service) detachNow(ctx context.Context, sb *sandbox) error {
	s.mu.Lock()
	network := sb.Network
	s.mu.Unlock()
	if !network {
		return nil
	}
	if err := s.teardownNetwork(ctx, sb); err != nil {
		return err
	}
	return s.saveSandbox(sb)
}

// sideBySide runs each function in its own goroutine and returns their
// errors once all have returned: most of tearing a pod down is waiting
// for processes (runc, CNI plugins), which two CPUs run two at a time.
func sideBySide(fns ...func() error) []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errs
}

// stopPause ends the pause process: SIGTERM (catatonit exits 0), then
// SIGKILL if it lingers.
func (s *Service) stopPause(ctx context.Context, sb *sandbox) error {
	select {
	case <-sb.exited:
		return nil
	default:
	}
	if err := s.signalPause(ctx, sb, unix.SIGTERM); err != nil {
		return err
	}
	select {
	case <-sb.exited:
		return nil
	case <-time.After(sandboxStopDeadline):
	}
	if err := s.signalPause(ctx, sb, unix.SIGKILL); err != nil {
		return err
	}
	select {
	case <-sb.exited:
	case <-time.After(sandboxStopDeadline):
		// No watch saw it go (a sandbox an older peapod made, whose
		// conmon a crash took): ask runc.
		if !s.alive(ctx, sb.ID) {
			s.sandboxExited(sb)
		}
	}
	return nil
}

// signalPause sends sig to the pause process through its pidfd, or, when
// there is none (its watch ended, or it could not be watched again after
// a restart), through the OCI runtime. A pause already gone
// is no error.
func (s *Service) signalPause(ctx context.Context, sb *sandbox, sig unix.Signal) error {
	s.mu.Lock()
	p := sb.pause
	s.mu.Unlock()
	if p != nil {
		err := p.Signal(sig)
		if err == nil || errors.Is(err, pidfd.ErrGone) {
			return nil
		}
	}
	if err := s.runtimeOf(sb.ID).Kill(ctx, sb.ID, sig, sig == unix.SIGKILL); err != nil && !isGone(err) {
		return err
	}
	return nil
}

// sandboxExited records that pause exited.
func (s *Service) sandboxExited(sb *sandbox) {
	s.mu.Lock()
	select {
	case <-sb.exited:
		s.mu.Unlock()
		return
	default:
	}
	sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	sb.ExitedAt = time.Now().UnixNano()
	close(sb.exited)
	s.mu.Unlock()
	s.logSave("sandbox", sb.ID, s.saveSandbox(sb))
	s.publish(sb.ID, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT, sb)
}

func isGone(err error) bool {
	return errors.Is(err, oci.ErrNotRunning) || errors.Is(err, oci.ErrNotExist)
}

func (s *Service) getSandbox(id string) (*sandbox, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb, ok := s.sandboxes[id]
	return sb, ok
}

func (s *Service) sandboxContainers(id string) []*container {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*container
	for _, c := range s.containers {
		if c.SandboxID == id {
			out = append(out, c)
		}
	}
	return out
}
