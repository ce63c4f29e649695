package cri

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) Close() error { return nil }
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitOutput(t *testing.T, what string, b *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(b.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %q, want %q in it", what, b.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStreams runs the streaming server's sessions against real conmon and
// runc: attach to a container's stdin pipe (kept open across sessions) and
// to its terminal (with resizes), and exec with an exit code.
func TestStreams(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	start := func(cfg *runtimeapi.ContainerConfig) string {
		t.Helper()
		c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
		return c.ContainerId
	}
	rt := streamRuntime{svc}

	reader := containerConfig("reader", "sh", "-c", "while read l; do echo got $l; echo err $l >&2; done; echo closed")
	reader.Stdin = true
	readerID := start(reader)
	for _, line := range []string{"one", "two"} {
		var out, errw syncBuffer
		if err := rt.Attach(ctx, readerID, strings.NewReader(line+"\n"), &out, &errw, false, nil); err != nil {
			t.Fatal(err)
		}
		// The session ends with its input, maybe before the answer
		// comes: the log has it all.
	}
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: readerID})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		logData := readFile(t, st.Status.LogPath)
		if strings.Contains(logData, "stdout F got two") && strings.Contains(logData, "stderr F err one") {
			if strings.Contains(logData, "closed") {
				t.Errorf("stdin closed after a session:\n%s", logData)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log:\n%s", logData)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A terminal: the session's resizes reach it; its output (with the
	// terminal's \r) is on stdout.
	shell := containerConfig("shell", "sh")
	shell.Stdin, shell.StdinOnce, shell.Tty = true, true, true
	shellID := start(shell)
	in, inW := io.Pipe()
	var out syncBuffer
	resize := make(chan remotecommandserver.TerminalSize, 16)
	done := make(chan error, 1)
	go func() { done <- rt.Attach(ctx, shellID, in, &out, nil, true, resize) }()
	// Sizes in quick succession (kubectl attach sends the size plus one,
	// then the size): the last one is what the terminal keeps.
	for i := 10; i > 0; i-- {
		resize <- remotecommandserver.TerminalSize{Width: uint16(77 + i), Height: uint16(22 + i)}
	}
	resize <- remotecommandserver.TerminalSize{Width: 77, Height: 22}
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(out.String(), "22 77\r\n") {
		if time.Now().After(deadline) {
			t.Fatalf("terminal: %q", out.String())
		}
		_, _ = io.WriteString(inW, "stty size\n")
		time.Sleep(100 * time.Millisecond)
	}
	_, _ = io.WriteString(inW, "exit 5\n")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("attach ended with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not end when the shell exited")
	}
	inW.Close()

	// Exec: output, exit code, a terminal.
	var execOut, execErr syncBuffer
	err = rt.Exec(ctx, readerID, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, nil, &execOut, &execErr, false, nil)
	var exitErr *utilexec.CodeExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 7 || execOut.String() != "out\n" || execErr.String() != "err\n" {
		t.Errorf("exec: %v %q %q", err, execOut.String(), execErr.String())
	}
	// runc in the foreground sizes the process's own terminal from ours
	// once the process runs, so a command that asks at once can, on a
	// loaded machine, see it unsized: a few tries are allowed.
	var ttyOut syncBuffer
	// (Seen needing more than five under two parallel test suites.)
	const tries = 20
	for try := 0; try < tries && !strings.Contains(ttyOut.String(), "33 90\r\n"); try++ {
		sizes := make(chan remotecommandserver.TerminalSize, 1)
		sizes <- remotecommandserver.TerminalSize{Width: 90, Height: 33}
		if err := rt.Exec(ctx, readerID, []string{"stty", "size"}, nil, &ttyOut, nil, true, sizes); err != nil && try == tries-1 {
			t.Errorf("exec -t: %v", err)
		}
	}
	waitOutput(t, "exec -t", &ttyOut, "33 90\r\n")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}

// TestReopenContainerLog: after the log is renamed, conmon writes a new
// file at the same path; a stopped container's log cannot be reopened.
func TestReopenContainerLog(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
		Config: containerConfig("ticker", "sh", "-c", "i=0; while true; do echo tick$i; i=$((i+1)); usleep 50000; done")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	path := st.Status.LogPath
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(readFile(t, path), "tick2\n") {
		if time.Now().After(deadline) {
			t.Fatalf("log: %q", readFile(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(20 * time.Second)
	for strings.Count(readFile(t, path), "tick") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("new log: %q", readFile(t, path))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if old, cur := readFile(t, path+".old"), readFile(t, path); !strings.Contains(old, "stdout F tick0\n") || strings.Contains(cur, "tick0\n") {
		t.Errorf("old %q\nnew %q", old, cur)
	}
	if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: c.ContainerId}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("reopening a stopped container's log: %v", err)
	}
}
