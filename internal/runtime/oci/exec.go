package oci

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ExecOptions describe one process run in a running container.
type ExecOptions struct {
	// Args is the command line; the rest of the process (user, env,
	// working directory, capabilities, seccomp, no_new_privs, rlimits) is
	// the container's own.
	Args []string
	// Env is added to the container's environment.
	Env []string
	// Stdout and Stderr receive the output (nil: discarded).
	Stdout, Stderr io.Writer
	// PidFile is where the runtime writes the process's host PID; it is
	// how the process is killed when ctx ends.
	PidFile string
}

// ErrExecStart: the runtime could not start the process at all (the
// command does not exist, say); the output holds its message.
var ErrExecStart = errors.New("exec failed")

// execStartExitCode is what runc exits with when it cannot start the
// process (runc's own errors), as opposed to the process's exit status.
const execStartExitCode = 255

// execKillWait bounds the wait for the runtime to return once the exec'd
// process was killed.
const execKillWait = 5 * time.Second

// Exec runs a process in the running container id (`runc exec`) and
// returns its exit status: the code it exited with, or 128+signal when a
// signal ended it. When ctx ends first, the process is killed (not just
// the runtime, which would leave it running in the container) and ctx's
// error is returned.
func (r *Runtime) Exec(ctx context.Context, id string, o ExecOptions) (int, error) {
	if len(o.Args) == 0 {
		return 0, errors.New("exec: no command")
	}
	args := []string{"--root", r.Root, "exec", "--pid-file", o.PidFile}
	for _, e := range o.Env {
		args = append(args, "--env", e)
	}
	args = append(args, id)
	args = append(args, o.Args...)
	cmd := exec.Command(r.Binary, args...)
	// runc's own complaints go to stderr too; keep a copy to tell them
	// from the process's output when it cannot start.
	var runcErr tail
	stderr := io.Writer(&runcErr)
	if o.Stderr != nil {
		stderr = io.MultiWriter(o.Stderr, &runcErr)
	}
	cmd.Stdout, cmd.Stderr = o.Stdout, stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	// Its own process group: a signal meant for peapod's group does not
	// reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	defer os.Remove(o.PidFile)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("%s exec: %w", r.Name(), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		r.killExec(o.PidFile, cmd.Process, done)
		return 0, ctx.Err()
	}
	if waitErr == nil {
		return 0, nil
	}
	var exit *exec.ExitError
	if !errors.As(waitErr, &exit) {
		return 0, fmt.Errorf("%s exec: %w", r.Name(), waitErr)
	}
	code := exit.ExitCode()
	if code == execStartExitCode && !pidFileWritten(o.PidFile) {
		// The process never ran: runc's own failure.
		return 0, fmt.Errorf("%w: %s", ErrExecStart, runcMessage(runcErr.String()))
	}
	if code < 0 {
		// runc itself died of a signal.
		return 0, fmt.Errorf("%s exec: %w", r.Name(), waitErr)
	}
	return code, nil
}

// killExec kills the exec'd process (found through its pid file; the
// runtime forwards no SIGKILL) and then the runtime, and waits for the
// runtime to return.
func (r *Runtime) killExec(pidFile string, runtime *os.Process, done <-chan error) {
	deadline := time.Now().Add(execKillWait)
	for time.Now().Before(deadline) {
		if pid := readPidFile(pidFile); pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			break
		}
		select {
		case <-done:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-done:
		return
	case <-time.After(execKillWait):
	}
	_ = runtime.Kill()
	<-done
}

// runcMessage is the message of runc's last log line (logrus's
// `time=… level=error msg="…"`), or the text as it is.
func runcMessage(out string) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndex(out, "\n"); i >= 0 {
		out = out[i+1:]
	}
	if _, quoted, ok := strings.Cut(out, " msg="); ok {
		if msg, err := strconv.Unquote(quoted); err == nil {
			return msg
		}
	}
	return out
}

func readPidFile(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

func pidFileWritten(path string) bool { return readPidFile(path) > 0 }

// tail keeps the last bytes written to it.
type tail struct{ buf []byte }

const tailSize = 4096

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = t.buf[len(t.buf)-tailSize:]
	}
	return len(p), nil
}

func (t *tail) String() string { return string(t.buf) }
