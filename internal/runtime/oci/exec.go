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

	"github.com/creack/pty"
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
	// Stdin, if set, is the process's standard input; the process sees
	// its end when Stdin does.
	Stdin io.Reader
	// Stdout and Stderr receive the output (nil: discarded). With Tty the
	// terminal's output goes to Stdout.
	Stdout, Stderr io.Writer
	// Tty gives the process a terminal, sized by what Resize sends.
	Tty    bool
	Resize <-chan TerminalSize
	// PidFile is where the runtime writes the process's host PID; it is
	// how the process is killed when ctx ends.
	PidFile string
}

// TerminalSize is a terminal's size in characters.
type TerminalSize struct {
	Width, Height uint16
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
//
// With Tty, runc runs in the foreground on a terminal of ours: it makes the
// process's own terminal and relays between the two (in raw mode), and a
// resize of ours reaches it as SIGWINCH, which it passes on. A console
// socket (--console-socket) would need a detached runc and a subreaper to
// learn the exit status; this keeps runc the parent that reports it.
func (r *Runtime) Exec(ctx context.Context, id string, o ExecOptions) (int, error) {
	if len(o.Args) == 0 {
		return 0, errors.New("exec: no command")
	}
	args := []string{"--root", r.Root, "exec", "--pid-file", o.PidFile}
	if o.Tty {
		args = append(args, "--tty")
	}
	for _, e := range o.Env {
		args = append(args, "--env", e)
	}
	args = append(args, id)
	args = append(args, o.Args...)
	cmd := exec.Command(r.Binary, args...)
	// runc's own complaints go to stderr too; keep a copy to tell them
	// from the process's output when it cannot start.
	var runcErr tail
	var terminal *os.File
	if o.Tty {
		var err error
		if o.Stdout == nil {
			o.Stdout = io.Discard
		}
		if terminal, err = r.startOnTerminal(ctx, cmd, o); err != nil {
			return 0, err
		}
		defer terminal.Close()
	} else if err := r.startOnPipes(cmd, o, &runcErr); err != nil {
		return 0, err
	}
	defer os.Remove(o.PidFile)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if terminal != nil {
		copied := make(chan struct{})
		go func() {
			defer close(copied)
			// EIO once runc, the terminal's other side, is gone: the end.
			// runc's own complaints come this way too.
			_, _ = io.Copy(io.MultiWriter(o.Stdout, &runcErr), terminal)
		}()
		if o.Stdin != nil {
			go func() { _, _ = io.Copy(terminal, o.Stdin) }()
		}
		go resizeTerminal(terminal, o.Resize, copied)
		defer func() {
			select {
			case <-copied:
			case <-time.After(time.Second):
			}
		}()
	}
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

// resizeTerminal applies every size sent until the terminal is done.
func resizeTerminal(terminal *os.File, sizes <-chan TerminalSize, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case size, ok := <-sizes:
			if !ok {
				return
			}
			_ = pty.Setsize(terminal, &pty.Winsize{Rows: size.Height, Cols: size.Width})
		}
	}
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

// startOnPipes starts runc with the process's streams as its own; runc's
// complaints are kept in runcErr too.
func (r *Runtime) startOnPipes(cmd *exec.Cmd, o ExecOptions, runcErr *tail) error {
	stderr := io.Writer(runcErr)
	if o.Stderr != nil {
		stderr = io.MultiWriter(o.Stderr, runcErr)
	}
	cmd.Stdout, cmd.Stderr = o.Stdout, stderr
	if cmd.Stdout == nil {
		cmd.Stdout = io.Discard
	}
	var stdin io.WriteCloser
	if o.Stdin != nil {
		// A pipe of our own rather than cmd.Stdin: Wait would otherwise
		// wait for the client to end its input even once the process
		// is gone.
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			return err
		}
	}
	// Its own process group: a signal meant for peapod's group does not
	// reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s exec: %w", r.Name(), err)
	}
	if stdin != nil {
		go func() {
			_, _ = io.Copy(stdin, o.Stdin)
			_ = stdin.Close()
		}()
	}
	return nil
}

// startOnTerminal starts runc in a new session whose controlling terminal
// is a new pseudo-terminal, and returns the terminal's master side. The
// client's first size, if it comes at once, is the terminal's from the
// start, so that the process never sees a 0x0 terminal.
func (r *Runtime) startOnTerminal(ctx context.Context, cmd *exec.Cmd, o ExecOptions) (*os.File, error) {
	var size *pty.Winsize
	if o.Resize != nil {
		select {
		case first, ok := <-o.Resize:
			if ok {
				size = &pty.Winsize{Rows: first.Height, Cols: first.Width}
			}
		case <-time.After(firstSizeWait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	master, err := pty.StartWithAttrs(cmd, size, &syscall.SysProcAttr{Setsid: true, Setctty: true})
	if err != nil {
		return nil, fmt.Errorf("%s exec: %w", r.Name(), err)
	}
	return master, nil
}

// firstSizeWait bounds the wait for a client's first terminal size.
const firstSizeWait = 200 * time.Millisecond
