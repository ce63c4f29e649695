// Package pidfd waits for the exit of processes that are not peapod's
// children (a sandbox's pause process, once `runc run --detach` has
// returned, belongs to init), through Linux process file descriptors.
// The descriptor is handed to the Go runtime's poller, so a thousand
// watched processes cost a thousand descriptors, not a thousand threads.
//
// A pidfd refers to one process for its whole life: unlike a PID it is
// never reused, so once opened it cannot watch the wrong process.
package pidfd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrGone is returned by Open when no process has that PID any more.
var ErrGone = errors.New("process is gone")

// Process is an open pidfd.
type Process struct {
	pid    int
	f      *os.File
	closed atomic.Bool
}

// Open opens a pidfd for pid.
func Open(pid int) (*Process, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("pidfd: invalid pid %d", pid)
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrGone)
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// A non-blocking descriptor makes os.NewFile register it with the
	// runtime's poller; a pidfd turns readable when its process exits.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pidfd %d: %w", pid, err)
	}
	return &Process{pid: pid, f: os.NewFile(uintptr(fd), fmt.Sprintf("pidfd:%d", pid))}, nil
}

// Wait blocks until the process exits (nil), ctx ends (ctx's error) or
// the Process is closed (os.ErrClosed).
func (p *Process) Wait(ctx context.Context) error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = p.f.SetReadDeadline(aLongTimeAgo) })
	defer stop()
	err = rc.Read(func(fd uintptr) bool { return readable(int(fd)) })
	switch {
	case err == nil:
		return nil
	case p.closed.Load():
		return os.ErrClosed
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}

// Signal sends sig to the process (never to a process that reused its
// PID).
func (p *Process) Signal(sig unix.Signal) error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	if errors.Is(serr, unix.ESRCH) {
		return ErrGone
	}
	return serr
}

// Running reports whether the process still runs: neither reaped, nor a
// zombie waiting for its parent, nor dead and being reaped. (While the
// pidfd answers a signal, the process holds its PID, so /proc/<pid> is
// this process.)
func (p *Process) Running() bool {
	if err := p.Signal(0); err != nil {
		return false
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return false
	}
	return StatRunning(data)
}

// StatRunning reports whether the contents of a /proc/<pid>/stat file
// describe a live process. An exited one shows 'Z' (a zombie its parent
// has not waited for) or 'X' (dead: being reaped this instant, or never
// a zombie because its parent ignores SIGCHLD; "x" before Linux 3.13).
// Counting 'X' as live made a test see a pause "still running" after
// its parent (the cgroup v2 VM's init) had begun to reap it.
func StatRunning(stat []byte) bool {
	// The state follows the command name, which ends with the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	switch stat[i+2] {
	case 'Z', 'X', 'x':
		return false
	}
	return true
}

// Close releases the descriptor; a Wait in progress returns.
func (p *Process) Close() error {
	p.closed.Store(true)
	return p.f.Close()
}

// readable polls fd without blocking.
func readable(fd int) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err != nil || (n > 0 && fds[0].Revents != 0)
	}
}

// aLongTimeAgo is a deadline already past, to wake a waiting read.
var aLongTimeAgo = time.Unix(1, 0)
