package cri

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// TestExecSync runs commands in a running container through runc exec:
// output, exit codes, the container's environment and working directory,
// a timeout that kills the command inside the container, and refusals for
// unknown and stopped containers. It also runs in the cgroup v2 VM.
func TestExecSync(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	events, unsubscribe := svc.Subscribe()
	defer unsubscribe()
	sbID, cfg := hostNetworkSandbox(t, ctx, svc, e)
	ccfg := containerConfig("app", "sleep", "3600")
	ccfg.Envs = []*runtimeapi.KeyValue{{Key: "GREETING", Value: []byte("hello")}}
	ccfg.WorkingDir = "/tmp"
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: cfg, Config: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc           string
		cmd            []string
		code           int32
		stdout, stderr string
	}{
		{"output and exit code", []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3, "out\n", "err\n"},
		{"container env and cwd", []string{"sh", "-c", "echo $GREETING $(pwd)"}, 0, "hello /tmp\n", ""},
		{"killed by a signal", []string{"sh", "-c", "kill -9 $$"}, 137, "", ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			resp, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: tc.cmd, Timeout: 10})
			if err != nil {
				t.Fatal(err)
			}
			if resp.ExitCode != tc.code || string(resp.Stdout) != tc.stdout || string(resp.Stderr) != tc.stderr {
				t.Errorf("got %d %q %q, want %d %q %q", resp.ExitCode, resp.Stdout, resp.Stderr, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	t.Run("missing command", func(t *testing.T) {
		_, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"no-such-command"}, Timeout: 10})
		if err == nil || !strings.Contains(err.Error(), "no-such-command") {
			t.Errorf("got %v, want an error naming the command", err)
		}
		if testing.Verbose() {
			t.Log(err)
		}
	})
	t.Run("timeout kills the command", func(t *testing.T) {
		start := time.Now()
		_, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"sh", "-c", "echo $$ > /tmp/pid; exec sleep 60"}, Timeout: 1})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want a deadline error", err)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Errorf("took %s", d)
		}
		// The sleep must be gone from the container, not left behind
		// with runc killed.
		resp, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"sh", "-c", "kill -0 $(cat /tmp/pid) 2>/dev/null && echo alive || echo gone"}, Timeout: 10})
		if err != nil || strings.TrimSpace(string(resp.Stdout)) != "gone" {
			t.Errorf("timed-out command: %q %v", resp.GetStdout(), err)
		}
	})
	t.Run("unknown container", func(t *testing.T) {
		if _, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: "nope", Cmd: []string{"true"}}); !errors.Is(err, errdefs.ErrNotFound) {
			t.Errorf("got %v, want not found", err)
		}
	})
	if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId, Timeout: 0}); err != nil {
		t.Fatal(err)
	}
	waitExit(t, events, c.ContainerId)
	t.Run("stopped container", func(t *testing.T) {
		if _, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"true"}}); !errors.Is(err, ErrNotRunning) {
			t.Errorf("got %v, want not running", err)
		}
	})
	// No exec pid files are left behind.
	if left, _ := os.ReadDir(svc.containerRunDir(c.ContainerId)); hasPrefix(left, "exec-") {
		t.Errorf("exec pid files left: %v", left)
	}
}

func hasPrefix(entries []os.DirEntry, prefix string) bool {
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			return true
		}
	}
	return false
}
