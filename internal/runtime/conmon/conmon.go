// Package conmon runs one conmon per container, as CRI-O does: conmon runs
// `runc create`, then stays as the container's parent, copying its stdout and
// stderr into a CRI-format log file and writing the exit code into an exit
// directory when it ends. peapod learns of exits by watching that directory.
package conmon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Monitor launches conmon processes.
type Monitor struct {
	// Binary is the conmon executable.
	Binary string
	// Runtime is the OCI runtime executable conmon runs.
	Runtime string
	// RuntimeRoot is the runtime's --root.
	RuntimeRoot string
	// ExitDir receives one file per exited container, named by its ID.
	ExitDir string
	// SocketDir holds conmon's attach socket links.
	SocketDir string
	// LogLevel is conmon's own log level (error by default).
	LogLevel string

	// ctlLocks serialize the messages to each conmon's control fifo
	// (container ID → *sync.Mutex): conmon 2.1 acts on one line per read.
	ctlLocks sync.Map
}

// Container is what Create needs to know about one container.
type Container struct {
	ID string
	// Bundle holds config.json; conmon also writes its pid files and the
	// "oom" marker there.
	Bundle string
	// LogPath is the CRI log file (must not contain ':').
	LogPath string
	// LogSizeMax rotates the log when it grows past this size (0 = never).
	LogSizeMax int64
	// SystemdCgroup has the runtime ask systemd for the container's
	// cgroup (runc --systemd-cgroup): its cgroupsPath is slice:prefix:name.
	SystemdCgroup bool
	// Stdin keeps a pipe to the container's standard input, fed by
	// attach sessions; StdinOnce closes it when the first session ends.
	Stdin, StdinOnce bool
	// Tty gives the container a terminal (its config.json must have
	// process.terminal set too: conmon does not read it).
	Tty bool
	// Runtime and RuntimeRoot choose the OCI runtime of this container
	// (its runtime handler's); empty means the Monitor's own.
	Runtime, RuntimeRoot string
}

// createTimeout bounds how long conmon may take to report runc create.
const createTimeout = 60 * time.Second

// syncMessage is what conmon writes on its sync pipe after runc create.
type syncMessage struct {
	Pid     int    `json:"pid"`
	Message string `json:"message,omitempty"`
}

// Create starts conmon for c and waits until `runc create` finished. It
// returns the PID of the container's init process, blocked until Start.
func (m *Monitor) Create(ctx context.Context, c Container) (int, error) {
	if strings.Contains(c.LogPath, ":") {
		return 0, fmt.Errorf("log path %q contains ':', which conmon cannot take", c.LogPath)
	}
	for _, d := range []string{m.ExitDir, m.SocketDir, filepath.Dir(c.LogPath)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, err
		}
	}
	syncParent, syncChild, err := socketpair()
	if err != nil {
		return 0, err
	}
	defer syncParent.Close()
	startParent, startChild, err := socketpair()
	if err != nil {
		syncChild.Close()
		return 0, err
	}
	defer startParent.Close()

	level := m.LogLevel
	if level == "" {
		level = "error"
	}
	args := []string{
		"--api-version", "1",
		"-b", c.Bundle,
		"-c", c.ID,
		"-u", c.ID,
		"-n", c.ID,
		"-r", cmp.Or(c.Runtime, m.Runtime),
		"--runtime-arg", "--root=" + cmp.Or(c.RuntimeRoot, m.RuntimeRoot),
		"-l", "k8s-file:" + c.LogPath,
		"--exit-dir", m.ExitDir,
		"--persist-dir", c.Bundle,
		"-p", filepath.Join(c.Bundle, "pidfile"),
		"-P", filepath.Join(c.Bundle, "conmon-pidfile"),
		"--socket-dir-path", m.SocketDir,
		"--log-level", level,
	}
	if c.LogSizeMax > 0 {
		args = append(args, "--log-size-max", strconv.FormatInt(c.LogSizeMax, 10))
	}
	if c.SystemdCgroup {
		args = append(args, "--systemd-cgroup")
	}
	// As CRI-O: a terminal is -t alone (with -i, the first session's end
	// would close conmon's copy of the terminal and drop later input
	// without the container seeing an end of file); a pipe is -i, kept
	// open across sessions unless stdinOnce.
	switch {
	case c.Tty:
		args = append(args, "-t")
	case c.Stdin:
		args = append(args, "-i")
		if !c.StdinOnce {
			args = append(args, "--leave-stdin-open")
		}
	}
	// conmon outlives this call (it double-forks), so it must not be tied
	// to ctx; the create is bounded by the sync read below instead.
	cmd := exec.Command(m.Binary, args...)
	cmd.Dir = c.Bundle
	cmd.Env = []string{"_OCI_SYNCPIPE=3", "_OCI_STARTPIPE=4", "PATH=" + os.Getenv("PATH")}
	cmd.ExtraFiles = []*os.File{syncChild, startChild}
	// Its own process group: a Ctrl-C to peapod must not reach containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	syncChild.Close()
	startChild.Close()
	if err != nil {
		return 0, fmt.Errorf("starting conmon: %w", err)
	}
	if _, err := startParent.Write([]byte{0}); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return 0, fmt.Errorf("releasing conmon: %w", err)
	}
	// The first conmon process exits once it has forked the monitor.
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("conmon: %w", err)
	}
	deadline := time.Now().Add(createTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := syncParent.SetReadDeadline(deadline); err != nil {
		return 0, fmt.Errorf("conmon sync pipe: %w", err)
	}
	var msg syncMessage
	if err := json.NewDecoder(syncParent).Decode(&msg); err != nil {
		return 0, fmt.Errorf("reading conmon sync pipe: %w", err)
	}
	if msg.Pid <= 0 {
		return 0, fmt.Errorf("%s", strings.TrimSpace(msg.Message))
	}
	return msg.Pid, nil
}

func (m *syncMessage) UnmarshalJSON(b []byte) error {
	// API version 1 names the PID "data"; older conmon "pid".
	var raw struct {
		Pid     *int   `json:"pid"`
		Data    *int   `json:"data"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	switch {
	case raw.Data != nil:
		m.Pid = *raw.Data
	case raw.Pid != nil:
		m.Pid = *raw.Pid
	}
	m.Message = raw.Message
	return nil
}

// socketpair returns a connected pair. The parent end is non-blocking, so
// os.NewFile makes it pollable and read deadlines work on it; the child end
// stays blocking for conmon.
func socketpair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_LOCAL, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "parent"), os.NewFile(uintptr(fds[1]), "child"), nil
}

// Cleanup removes what conmon leaves for a deleted container: its exit file
// and the attach socket link.
func (m *Monitor) Cleanup(id string) error {
	m.ctlLocks.Delete(id)
	var errs []error
	for _, p := range []string{filepath.Join(m.ExitDir, id), filepath.Join(m.SocketDir, id)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Kill kills the conmon of container id, whose bundle is given, if it
// still runs (for undoing a create cut short). The PID file may be stale,
// so the process is only killed if its command line names the container.
func Kill(bundle, id string) {
	pid := MonitorPID(bundle)
	if pid <= 0 {
		return
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), id) {
		return
	}
	_ = unix.Kill(pid, unix.SIGKILL)
}

// MonitorPID returns the PID of the conmon watching the container whose
// bundle is given, or 0.
func MonitorPID(bundle string) int {
	data, err := os.ReadFile(filepath.Join(bundle, "conmon-pidfile"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}
