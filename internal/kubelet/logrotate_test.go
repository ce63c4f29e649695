package kubelet

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/containerlog"
)

// logRuntime has running containers with logs; ReopenContainerLog makes
// a new empty live file, as conmon does.
type logRuntime struct {
	Runtime
	logs     map[string]string // container ID → log path
	reopened []string
}

func (r *logRuntime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	resp := &runtimeapi.ListContainersResponse{}
	for id := range r.logs {
		resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: id, State: runtimeapi.ContainerState_CONTAINER_RUNNING})
	}
	return resp, nil
}

func (r *logRuntime) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: req.ContainerId, LogPath: r.logs[req.ContainerId],
		State: runtimeapi.ContainerState_CONTAINER_RUNNING}}, nil
}

func (r *logRuntime) ReopenContainerLog(_ context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	r.reopened = append(r.reopened, req.ContainerId)
	return &runtimeapi.ReopenContainerLogResponse{}, os.WriteFile(r.logs[req.ContainerId], nil, 0o600)
}

func TestRotateLogs(t *testing.T) {
	dir := t.TempDir()
	rt := &logRuntime{logs: map[string]string{
		"big":     filepath.Join(dir, "big.log"),
		"small":   filepath.Join(dir, "small.log"),
		"missing": filepath.Join(dir, "missing.log"),
	}}
	if err := os.WriteFile(rt.logs["big"], make([]byte, 2048), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rt.logs["small"], make([]byte, 10), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	k := &Kubelet{cfg: Config{Runtime: rt, ContainerLogs: containerlog.Policy{MaxSize: 1024, MaxFiles: 2}, Now: func() time.Time { return now }},
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	k.rotateLogs(context.Background())
	slices.Sort(rt.reopened)
	// The big log was rotated; the missing one (a rotation cut short)
	// was given a live file again; the small one left alone.
	if !slices.Equal(rt.reopened, []string{"big", "missing"}) {
		t.Errorf("reopened %v", rt.reopened)
	}
	if info, err := os.Stat(rt.logs["big"] + ".20261205-120000"); err != nil || info.Size() != 2048 {
		t.Errorf("rotated log: %v %v", info, err)
	}
	for _, id := range []string{"big", "missing"} {
		if info, err := os.Stat(rt.logs[id]); err != nil || info.Size() != 0 {
			t.Errorf("%s: live log %v %v", id, info, err)
		}
	}
	if info, err := os.Stat(rt.logs["small"]); err != nil || info.Size() != 10 {
		t.Errorf("small log touched: %v %v", info, err)
	}
}
