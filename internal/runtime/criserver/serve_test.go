package criserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// stub answers from a table of errors, to check the codes at the edge.
type stub struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer
	err error
}

func (s *stub) ContainerStatus(ctx context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return nil, s.err
}

func (s *stub) Version(ctx context.Context, req *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{RuntimeName: "stub"}, nil
}

func dial(t *testing.T, path string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestServeCodes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	path := filepath.Join(t.TempDir(), "sub", "cri.sock")
	svc := &stub{}
	done, err := Serve(ctx, path, svc, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v, want 0600 socket", fi.Mode())
	}
	rt := runtimeapi.NewRuntimeServiceClient(dial(t, path))
	tests := []struct {
		err  error
		code codes.Code
	}{
		{fmt.Errorf("container %q: %w", "x", errdefs.ErrNotFound), codes.NotFound},
		{errdefs.Errorf(errdefs.ErrInvalidArgument, "bad"), codes.InvalidArgument},
		{errdefs.Errorf(errdefs.ErrAlreadyExists, "name taken"), codes.AlreadyExists},
		{errors.New("plain"), codes.Unknown},
	}
	for _, tt := range tests {
		svc.err = tt.err
		_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: "x"})
		if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.err.Error() {
			t.Errorf("error %v: got %v %q, want %v", tt.err, st.Code(), st.Message(), tt.code)
		}
	}
	// A call the service does not implement answers Unimplemented.
	if _, err := rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("CheckpointContainer: %v, want Unimplemented", err)
	}

	// A second server refuses the live socket.
	if _, err := Serve(ctx, path, svc, slog.New(slog.DiscardHandler)); !errors.Is(err, ErrSocketInUse) {
		t.Fatalf("second Serve: %v, want ErrSocketInUse", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("server ended with %v", err)
	}
}

func TestServeReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cri.sock")
	// A socket file nobody listens on, as a crash leaves it.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := Serve(ctx, path, &stub{}, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	v, err := runtimeapi.NewRuntimeServiceClient(dial(t, path)).Version(ctx, &runtimeapi.VersionRequest{})
	if err != nil || v.RuntimeName != "stub" {
		t.Fatalf("Version = %v, %v", v, err)
	}
}
