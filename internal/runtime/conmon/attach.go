package conmon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/peapod/peapod/internal/runtime/oci"
)

// conmon's attach socket speaks in packets: output comes as one packet per
// read of the container's pipe (at most bufSize bytes) behind a byte naming
// the stream; input goes in raw packets of at most inputChunk bytes (longer
// ones are cut).
const (
	bufSize       = 8192
	inputChunk    = 32 << 10
	streamStdout  = 2
	streamStderr  = 3
	ctlResize     = 1
	ctlReopenLogs = 2
)

// Attach joins the container's own standard streams through conmon's
// attach socket: its output goes to out and errw (both to out with a
// terminal), in feeds its standard input, and resize sets its terminal's
// size. It returns when the container's output ends (the container
// exited), or, for a container whose input stays open, when in ends.
func (m *Monitor) Attach(ctx context.Context, id string, in io.Reader, out, errw io.WriteCloser, tty, stdinOnce bool, resize <-chan oci.TerminalSize) error {
	if tty && resize != nil {
		go m.forwardResizes(ctx, id, resize)
	}
	conn, err := m.dialAttach(id)
	if err != nil {
		return fmt.Errorf("attaching to container %s: %w", id, err)
	}
	defer conn.Close()
	go func() {
		<-ctx.Done()
		conn.Close()
	}()

	outputDone := make(chan error, 1)
	go func() { outputDone <- copyOutput(conn, out, errw) }()
	if in != nil {
		inputDone := make(chan error, 1)
		go func() {
			err := copyInput(conn, in)
			// The client's end of input: conmon closes the container's
			// stdin if it was started with stdinOnce.
			_ = conn.CloseWrite()
			inputDone <- err
		}()
		select {
		case err := <-outputDone:
			return err
		case err := <-inputDone:
			// As the kubelet: a container whose stdin stays open is
			// detached from when the client's input ends.
			if !tty && !stdinOnce {
				return err
			}
		}
	}
	return <-outputDone
}

// dialAttach connects to the container's attach socket. Its path may be
// longer than a socket address holds, so it is reached through an open
// descriptor of its directory, as conmon binds it.
func (m *Monitor) dialAttach(id string) (*net.UnixConn, error) {
	dir, err := os.OpenFile(filepath.Join(m.SocketDir, id), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	path := fmt.Sprintf("/proc/self/fd/%d/attach", dir.Fd())
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
}

// copyOutput routes conmon's output packets to the client until conmon
// closes the socket (the container exited). It always drains: a client
// that stopped reading would stall conmon and the container with it.
func copyOutput(conn *net.UnixConn, out, errw io.Writer) error {
	buf := make([]byte, bufSize+1)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			var w io.Writer
			switch buf[0] {
			case streamStdout:
				w = out
			case streamStderr:
				w = errw
			}
			if w != nil {
				// A client gone away is not an error of the session's
				// other half; keep draining.
				_, _ = w.Write(buf[1:n])
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if n == 0 {
			return nil
		}
	}
}

// copyInput sends in to conmon in packets it takes whole.
func copyInput(conn *net.UnixConn, in io.Reader) error {
	buf := make([]byte, inputChunk)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := conn.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// forwardResizes writes each size to conmon's control fifo, one message
// per write, the next only once conmon read the previous (conmon 2.1
// acts on the first line of a read only).
func (m *Monitor) forwardResizes(ctx context.Context, id string, sizes <-chan oci.TerminalSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case size, ok := <-sizes:
			if !ok {
				return
			}
			if size.Width < 1 || size.Height < 1 {
				continue
			}
			_ = m.writeControl(ctx, id, ctlResize, int(size.Height), int(size.Width))
		}
	}
}

// writeControl sends one message to conmon's control fifo and waits (a
// little) until conmon read it. A resize is relayed by conmon through a
// second fifo, winsz, whose reader (like the control fifo's) acts on the
// first line of each read only: the wait covers that fifo too, or two
// resizes in a row (kubectl attach sends the size plus one, then the
// size) could reach it in one read and the second be lost.
func (m *Monitor) writeControl(ctx context.Context, id string, kind, a, b int) error {
	l, _ := m.ctlLocks.LoadOrStore(id, &sync.Mutex{})
	mu := l.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	// Non-blocking: once conmon is gone a blocking open would hang.
	f, err := os.OpenFile(filepath.Join(m.SocketDir, id, "ctl"), os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("conmon control fifo: %w", err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%d %d %d\n", kind, a, b); err != nil {
		return fmt.Errorf("conmon control fifo: %w", err)
	}
	deadline := time.Now().Add(time.Second)
	drained(ctx, f, deadline)
	if kind == ctlResize {
		// conmon writes the size to winsz right after reading it from
		// the control fifo; a moment later it is there to wait for.
		time.Sleep(10 * time.Millisecond)
		if w, err := os.OpenFile(filepath.Join(m.SocketDir, id, "winsz"), os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
			drained(ctx, w, deadline)
			w.Close()
		}
	}
	return nil
}

// drained waits until the fifo f holds no unread bytes, or the deadline.
func drained(ctx context.Context, f *os.File, deadline time.Time) {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCINQ)
		if err != nil || n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ReopenLog has conmon close the container's log file and start a new,
// empty one at the same path (after a rotation renamed the old one).
func (m *Monitor) ReopenLog(ctx context.Context, id string) error {
	return m.writeControl(ctx, id, ctlReopenLogs, 0, 0)
}
