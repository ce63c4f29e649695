// Package criserver serves peapod's runtime (package cri) as the
// Kubernetes CRI: the runtime.v1 RuntimeService and ImageService over gRPC
// on a unix socket, for a real kubelet, crictl or critest. It is only the
// edge: the service it serves is the one peapod's own kubelet calls in
// process, and errors get their gRPC codes here, once (errdefs.ToGRPC).
package criserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// Service is what the socket serves: both CRI services.
type Service interface {
	runtimeapi.RuntimeServiceServer
	runtimeapi.ImageServiceServer
}

// maxMsgSize matches the kubelet's CRI client (16 MiB), so large
// ListContainers or ExecSync answers pass.
const maxMsgSize = 16 << 20

// ErrSocketInUse is returned when another live process serves the socket.
var ErrSocketInUse = errors.New("CRI socket in use by another process")

// Serve listens on the unix socket at path (mode 0600, its directory
// created) and serves svc until ctx ends; it returns once listening, and
// the returned channel yields the server's end. A stale socket left by a
// crash is replaced; one that still answers is not.
func Serve(ctx context.Context, path string, svc Service, log *slog.Logger) (<-chan error, error) {
	l, err := listen(path)
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer(
		grpc.MaxRecvMsgSize(maxMsgSize), grpc.MaxSendMsgSize(maxMsgSize),
		grpc.ChainUnaryInterceptor(unaryErrors(log)),
		grpc.ChainStreamInterceptor(streamErrors(log)),
	)
	runtimeapi.RegisterRuntimeServiceServer(srv, svc)
	runtimeapi.RegisterImageServiceServer(srv, svc)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	go func() {
		<-ctx.Done()
		stopped := make(chan struct{})
		go func() { srv.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			srv.Stop()
		}
		_ = os.Remove(path)
	}()
	log.Info("CRI socket serving", "path", path)
	return done, nil
}

func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("CRI socket directory: %w", err)
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: %w", path, ErrSocketInUse)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing stale CRI socket: %w", err)
		}
	}
	l, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("CRI socket: %w", err)
	}
	return l, nil
}

func listenPrivate(path string) (net.Listener, error) {
	// Connecting needs write access; the umask (022 for a daemon) leaves
	// others none from the start, and the mode then drops to owner only.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func unaryErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			log.Debug("CRI call failed", "method", info.FullMethod, "err", err)
			return nil, errdefs.ToGRPC(err)
		}
		return resp, nil
	}
}

func streamErrors(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		err := handler(srv, ss)
		if err != nil {
			log.Debug("CRI stream ended", "method", info.FullMethod, "err", err)
			return errdefs.ToGRPC(err)
		}
		return nil
	}
}
