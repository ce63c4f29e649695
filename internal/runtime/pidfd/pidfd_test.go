package pidfd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startSleep starts a process that lives until killed and is reaped by
// the test (so its PID stays a zombie, then goes, as a non-child's would).
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestWait(t *testing.T) {
	tests := []struct {
		name string
		// act ends the wait; want is what Wait returns.
		act  func(cmd *exec.Cmd, p *Process, cancel context.CancelFunc)
		want error
	}{
		{"exit", func(cmd *exec.Cmd, p *Process, _ context.CancelFunc) { _ = cmd.Process.Kill() }, nil},
		{"signal through the pidfd", func(_ *exec.Cmd, p *Process, _ context.CancelFunc) { _ = p.Signal(unix.SIGTERM) }, nil},
		{"context cancelled", func(_ *exec.Cmd, _ *Process, cancel context.CancelFunc) { cancel() }, context.Canceled},
		{"closed", func(_ *exec.Cmd, p *Process, _ context.CancelFunc) { _ = p.Close() }, os.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := startSleep(t)
			p, err := Open(cmd.Process.Pid)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- p.Wait(ctx) }()
			select {
			case err := <-done:
				t.Fatalf("Wait returned %v before anything happened", err)
			case <-time.After(50 * time.Millisecond):
			}
			tt.act(cmd, p, cancel)
			select {
			case err := <-done:
				if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
					t.Fatalf("Wait = %v, want %v", err, tt.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Wait did not return")
			}
			if tt.want == nil {
				// Once exited, a new Wait returns at once.
				if err := p.Wait(context.Background()); err != nil {
					t.Errorf("Wait after the exit = %v", err)
				}
			}
		})
	}
}

func TestOpenGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cmd.Process.Pid); !errors.Is(err, ErrGone) {
		t.Fatalf("Open of a reaped process = %v, want ErrGone", err)
	}
	if _, err := Open(0); err == nil {
		t.Fatal("Open(0) succeeded")
	}
}

func TestWaitAfterExit(t *testing.T) {
	cmd := startSleep(t)
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("Wait after the exit = %v", err)
	}
	if err := p.Signal(unix.SIGTERM); !errors.Is(err, ErrGone) {
		t.Fatalf("Signal after the exit = %v, want ErrGone", err)
	}
}

func TestRunning(t *testing.T) {
	cmd := startSleep(t)
	p, err := Open(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !p.Running() {
		t.Fatal("Running() = false for a running process")
	}
	_ = cmd.Process.Kill()
	if err := p.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Running() {
		t.Error("Running() = true for a zombie")
	}
	_ = cmd.Wait()
	if p.Running() {
		t.Error("Running() = true for a reaped process")
	}
}

func TestStatRunning(t *testing.T) {
	for _, tc := range []struct {
		stat string
		want bool
	}{
		{"616 (catatonit) S 1 616 616 0 -1", true},
		{"616 (catatonit) R 1 616 616 0 -1", true},
		{"616 (catatonit) D 1 616 616 0 -1", true},
		{"616 (catatonit) Z 1 616 616 0 -1", false},
		{"616 (catatonit) X 1 616 616 0 -1", false},
		{"616 (catatonit) x 1 616 616 0 -1", false},
		// A command name may hold ") Z": the state follows the last ')'.
		{"616 (a) Z (b) S 1 616", true},
		{"616 (a) S (b) Z 1 616", false},
	} {
		if got := StatRunning([]byte(tc.stat)); got != tc.want {
			t.Errorf("StatRunning(%q) = %v, want %v", tc.stat, got, tc.want)
		}
	}
}
