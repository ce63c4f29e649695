package cri

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/pidfd"
	"github.com/peapod/peapod/internal/testutil"
)

// TestPauseWithoutMonitor checks that a sandbox's pause process runs with
// no conmon, that its exit is noticed through its pidfd both while the
// runtime that started it runs and after a restart of the runtime, and
// that a sandbox is still stopped and removed without leaving the pause
// behind. It needs no CNI, so it also runs in the cgroup v2 VM.
func TestPauseWithoutMonitor(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	first, stopFirst := context.WithCancel(ctx)
	defer stopFirst()
	svc := e.start(t, first)

	sandboxPause := func(id string) int {
		t.Helper()
		sb, ok := svc.getSandbox(id)
		if !ok || sb.PausePID <= 0 {
			t.Fatalf("sandbox %s: no pause PID", id)
		}
		return sb.PausePID
	}
	// Each sandbox a new attempt of the pod, as a kubelet would ask (the
	// runtime reserves each name).
	attempt := uint32(0)
	newSandbox := func() string {
		t.Helper()
		cfg := sandboxConfig(e)
		cfg.Metadata.Attempt = attempt
		attempt++
		cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
		sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return sb.PodSandboxId
	}
	waitNotReady := func(id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			st, err := svc.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
			if err != nil {
				t.Fatal(err)
			}
			if st.Status.State == runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("sandbox %s still ready after its pause was killed", id)
	}

	// 1. No conmon for the pause; killed from outside, the sandbox turns
	// NOTREADY.
	id1 := newSandbox()
	pid := sandboxPause(id1)
	// runc returns once it has let the process go, which may still be
	// runc's init on its way to exec the pause.
	testutil.Eventually(t, "the pause process", 10*time.Second, func() bool {
		cmd, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		return err == nil && strings.HasPrefix(string(cmd), "/pause")
	})
	if ppid := parentOf(t, pid); ppid == os.Getpid() {
		t.Errorf("pause is the runtime's child; it should belong to init")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "run/sandboxes", id1, "conmon-pidfile")); err == nil {
		t.Errorf("a conmon was started for the pause")
	}
	if err := unix.Kill(pid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNotReady(id1)

	// 2. After a restart of the runtime, a running pause is watched again.
	id2 := newSandbox()
	stopFirst() // the first runtime's watches end with it
	restartCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	svc = e.start(t, restartCtx)
	st, err := svc.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id2})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if err := unix.Kill(sandboxPause(id2), unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitNotReady(id2)

	// 3. A sandbox whose pause runs is stopped and removed (the pause
	// ended through its pidfd), and nothing of it stays.
	id3 := newSandbox()
	pid = sandboxPause(id3)
	stopAt := time.Now()
	if _, err := svc.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id3}); err != nil {
		t.Fatal(err)
	}
	if running(pid) {
		stat, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		status, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
		t.Errorf("pause %d still runs after StopPodSandbox (after %v)\nstat: %s\nstatus:\n%s", pid, time.Since(stopAt), stat, status)
	}
	for _, id := range []string{id1, id2, id3} {
		if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "run/sandboxes")); len(entries) != 0 {
		t.Errorf("sandbox bundles left: %v", entries)
	}
}

// running reports whether pid is a live process: not gone, not a zombie
// waiting for init (which may reap it late) to collect it, and not dead
// while init reaps it.
func running(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	return err == nil && pidfd.StatRunning(data)
}

// parentOf reads a process's parent PID from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which ends with the last ')'.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
