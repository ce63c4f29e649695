package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// maxExecSyncOutput caps each of stdout and stderr of ExecSync, as CRI-O
// does (16 MiB); what is beyond is dropped.
const maxExecSyncOutput = 16 << 20

// ErrNotRunning: the container is not running, so nothing can be executed
// in it.
var ErrNotRunning = errdefs.New(errdefs.ErrFailedPrecondition, "container is not running")

// ExecSync runs a command in a running container and returns its output and
// exit code. With a timeout, a command still running when it ends is
// killed and the error wraps context.DeadlineExceeded. The command runs
// with the container's own process settings (user, environment, working
// directory, capabilities, seccomp), in its namespaces and cgroup.
func (s *Service) ExecSync(ctx context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	if len(req.GetCmd()) == 0 {
		return nil, fmt.Errorf("%w: exec needs a command", errdefs.ErrInvalidArgument)
	}
	s.mu.Lock()
	state := c.State
	s.mu.Unlock()
	if state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil, fmt.Errorf("container %s: %w", c.ID, ErrNotRunning)
	}
	if t := req.GetTimeout(); t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(t)*time.Second)
		defer cancel()
	}
	var stdout, stderr capped
	stdout.max, stderr.max = maxExecSyncOutput, maxExecSyncOutput
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	code, err := s.runtimeOf(c.ID).Exec(ctx, c.ID, oci.ExecOptions{
		Args: req.GetCmd(), Stdout: &stdout, Stderr: &stderr,
		PidFile: filepath.Join(s.containerRunDir(c.ID), "exec-"+hex.EncodeToString(id)+".pid"),
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return nil, fmt.Errorf("timeout %ds exceeded: %w", req.GetTimeout(), err)
	case err != nil:
		return nil, wrapf(err, "exec in container %s", c.ID)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: stdout.buf, Stderr: stderr.buf, ExitCode: int32(code)}, nil
}

// capped keeps the first max bytes written to it.
type capped struct {
	buf []byte
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}
