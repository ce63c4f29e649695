package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/cri-streaming/pkg/streaming"
	remotecommandserver "k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// The CRI's Exec, Attach and PortForward answer with the URL of a
// streaming server, as containerd's and CRI-O's do: the caller (the API
// server, or a real kubelet) connects there with SPDY or WebSocket, and the
// server runs the session. peapod's listens on 127.0.0.1 only, and each URL
// carries a single-use token that expires (k8s.io/cri-streaming).

// startStreaming serves the streaming server on addr (127.0.0.1:0 by
// default) until ctx ends.
func (s *Service) startStreaming(ctx context.Context, addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("streaming server: %w", err)
	}
	cfg := streaming.DefaultConfig
	cfg.Addr = l.Addr().String()
	cfg.BaseURL = &url.URL{Scheme: "http", Host: l.Addr().String()}
	srv, err := streaming.NewServer(cfg, streamRuntime{s})
	if err != nil {
		l.Close()
		return err
	}
	s.streams = srv
	hs := &http.Server{Handler: s.sessions.wrap(srv), ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = hs.Serve(l) }()
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	return nil
}

// Exec returns the URL of a streaming exec session in a running container.
func (s *Service) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	if err := s.requireRunning(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.streams.GetExec(req)
}

// Attach returns the URL of a streaming session attached to a running
// container's own standard streams.
func (s *Service) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	if err := s.requireRunning(req.GetContainerId()); err != nil {
		return nil, err
	}
	return s.streams.GetAttach(req)
}

// PortForward returns the URL of a streaming port-forward session into a
// sandbox's network namespace.
func (s *Service) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return nil, errNotFound("sandbox", req.GetPodSandboxId())
	}
	s.mu.Lock()
	ready := sb.State == runtimeapi.PodSandboxState_SANDBOX_READY
	s.mu.Unlock()
	if !ready {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, fmt.Sprintf("sandbox %s is not ready", sb.ID))
	}
	resp, err := s.streams.GetPortForward(req)
	if err != nil {
		return nil, err
	}
	s.sessions.expect(resp.GetUrl(), sb.ID)
	return resp, nil
}

func (s *Service) requireRunning(id string) error {
	c, ok := s.getContainer(id)
	if !ok {
		return errNotFound("container", id)
	}
	s.mu.Lock()
	state := c.State
	s.mu.Unlock()
	if state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("container %s: %w", id, ErrNotRunning)
	}
	return nil
}

// streamRuntime runs the streaming server's sessions.
type streamRuntime struct{ s *Service }

// Exec runs cmd in the container with the session's streams; a non-zero
// exit is an exec.ExitError, which the server turns into the exit code on
// the error stream.
func (r streamRuntime) Exec(ctx context.Context, containerID string, cmd []string, in io.Reader, out, errw io.WriteCloser,
	tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	s := r.s
	if err := s.requireRunning(containerID); err != nil {
		return err
	}
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	opts := oci.ExecOptions{Args: cmd, Tty: tty, Resize: terminalSizes(ctx, resize),
		PidFile: filepath.Join(s.containerRunDir(containerID), "exec-"+hex.EncodeToString(id)+".pid")}
	if in != nil {
		opts.Stdin = in
	}
	if out != nil {
		opts.Stdout = out
	}
	if errw != nil {
		opts.Stderr = errw
	}
	code, err := s.runtimeOf(containerID).Exec(ctx, containerID, opts)
	if err != nil {
		return err
	}
	if code != 0 {
		return &utilexec.CodeExitError{Err: fmt.Errorf("command '%s' exited with %d", strings.Join(cmd, " "), code), Code: code}
	}
	return nil
}

// Attach joins the container's own standard streams through conmon.
func (r streamRuntime) Attach(ctx context.Context, containerID string, in io.Reader, out, errw io.WriteCloser,
	tty bool, resize <-chan remotecommandserver.TerminalSize) error {
	s := r.s
	c, ok := s.getContainer(containerID)
	if !ok {
		return errNotFound("container", containerID)
	}
	if err := s.requireRunning(containerID); err != nil {
		return err
	}
	sizes := terminalSizes(ctx, resize)
	return s.cfg.Conmon.Attach(ctx, c.ID, in, out, errw, tty && c.Config.GetTty(), c.Config.GetStdinOnce(), sizes)
}

// PortForward connects the stream to port on the sandbox's localhost, from
// inside its network namespace (the node's, for a host-network sandbox).
func (r streamRuntime) PortForward(ctx context.Context, sandboxID string, port int32, stream io.ReadWriteCloser) error {
	s := r.s
	sb, ok := s.getSandbox(sandboxID)
	if !ok {
		return errNotFound("sandbox", sandboxID)
	}
	s.mu.Lock()
	netns := sb.NetNS
	s.mu.Unlock()
	var conn net.Conn
	dial := func() error {
		var err error
		conn, err = (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", fmt.Sprintf("localhost:%d", port))
		return err
	}
	var err error
	if netns != "" {
		err = network.Do(netns, dial)
	} else {
		err = dial()
	}
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace %q: %w", port, sandboxID, err)
	}
	defer conn.Close()
	toPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(conn, stream)
		// The client is done sending: the pod's side sees EOF and may
		// still answer.
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		toPod <- err
	}()
	fromPod := make(chan error, 1)
	go func() {
		_, err := io.Copy(stream, conn)
		fromPod <- err
	}()
	select {
	case err = <-fromPod:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// terminalSizes turns the server's resize events into the OCI layer's.
func terminalSizes(ctx context.Context, in <-chan remotecommandserver.TerminalSize) <-chan oci.TerminalSize {
	if in == nil {
		return nil
	}
	out := make(chan oci.TerminalSize, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case size, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- oci.TerminalSize{Width: size.Width, Height: size.Height}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
