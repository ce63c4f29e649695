package cri

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/peapod/peapod/internal/runtime/pidfd"
)

// TestSignalInit: the daemon signals a container's init through a pidfd
// only when the process is in the container's cgroup, so a PID reused
// by another process after the init's exit is never signalled.
func TestSignalInit(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	pid := cmd.Process.Pid
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	// The path of the process's cgroup stands in for a container's ID.
	first := strings.SplitN(strings.TrimSpace(string(cg)), "\n", 2)[0]
	own := first[strings.LastIndexByte(first, ':')+1:]

	if err := signalInit(pid, "0123456789abcdef-not-its-cgroup", unix.SIGKILL); !errors.Is(err, errNotContainer) {
		t.Fatalf("signalling a process outside the container's cgroup: %v, want errNotContainer", err)
	}
	if err := unix.Kill(pid, 0); err != nil {
		t.Fatalf("the process was signalled: %v", err)
	}
	if err := signalInit(pid, own, unix.SIGKILL); err != nil {
		t.Fatalf("signalling the container's init: %v", err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("the init was not killed: %v", err)
	}
	if err := signalInit(pid, own, unix.SIGKILL); !errors.Is(err, pidfd.ErrGone) {
		t.Errorf("signalling an init that is gone: %v, want ErrGone", err)
	}
}
