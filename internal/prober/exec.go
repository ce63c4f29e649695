package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Execer runs a command in a container (the CRI's ExecSync).
type Execer interface {
	ExecSync(context.Context, *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error)
}

// maxExecOutput is how much of an exec probe's output is kept (10 KiB,
// as pkg/probe/exec).
const maxExecOutput = 10 << 10

// ErrCommandTimedOut: an exec probe or hook ran past its timeout (and was
// killed).
var ErrCommandTimedOut = errors.New("command timed out")

// Exec runs cmd in the container through the runtime with timeout (none
// when 0) and returns its exit code, stdout and stderr. A timeout is
// ErrCommandTimedOut with upstream's text.
func Exec(ctx context.Context, rt Execer, containerID string, cmd []string, timeout time.Duration) (code int32, stdout, stderr []byte, err error) {
	secs := int64(timeout / time.Second)
	resp, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: cmd, Timeout: secs})
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return 0, nil, nil, fmt.Errorf("%w: %q timed out after %s", ErrCommandTimedOut, strings.Join(cmd, " "), timeout)
	}
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.GetExitCode(), resp.GetStdout(), resp.GetStderr(), nil
}

// probeExec runs an exec probe: exit 0 is success, any other exit a
// failure with the output (at most 10 KiB), a timeout a failure saying
// so; a command the runtime could not run at all is an error.
func probeExec(ctx context.Context, rt Execer, containerID string, cmd []string, timeout time.Duration) (outcome, string, error) {
	code, stdout, stderr, err := Exec(ctx, rt, containerID, cmd, timeout)
	// Stdout followed by stderr, as the kubelet's RunInContainer.
	out := append(stdout, stderr...)
	switch {
	case errors.Is(err, ErrCommandTimedOut):
		return outcomeFailure, err.Error(), nil
	case err != nil:
		return outcomeUnknown, "", err
	}
	if len(out) > maxExecOutput {
		out = out[:maxExecOutput]
	}
	if code != 0 {
		return outcomeFailure, string(out), nil
	}
	return outcomeSuccess, string(out), nil
}
