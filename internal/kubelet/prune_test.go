package kubelet

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// removals records RemoveContainer calls; other verbs are not used.
type removals struct {
	Runtime
	ids []string
}

func (r *removals) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	r.ids = append(r.ids, req.ContainerId)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func TestPruneContainers(t *testing.T) {
	ctr := func(id, name string, state runtimeapi.ContainerState) *runtimeapi.ContainerStatus {
		return &runtimeapi.ContainerStatus{Id: id, State: state, Labels: map[string]string{labelContainerName: name}}
	}
	const (
		exited  = runtimeapi.ContainerState_CONTAINER_EXITED
		created = runtimeapi.ContainerState_CONTAINER_CREATED
		running = runtimeapi.ContainerState_CONTAINER_RUNNING
	)
	for _, tc := range []struct {
		desc string
		ctrs []*runtimeapi.ContainerStatus // newest first
		want []string
	}{
		{"two exited kept", []*runtimeapi.ContainerStatus{ctr("a2", "a", exited), ctr("a1", "a", exited)}, nil},
		{"third exited removed", []*runtimeapi.ContainerStatus{ctr("a3", "a", running), ctr("a2", "a", exited), ctr("a1", "a", exited)}, []string{"a1"}},
		{"newest created kept", []*runtimeapi.ContainerStatus{ctr("a1", "a", created)}, nil},
		{"replaced created removed", []*runtimeapi.ContainerStatus{ctr("a2", "a", running), ctr("a1", "a", created), ctr("b1", "b", created)}, []string{"a1"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rt := &removals{}
			k := &Kubelet{cfg: Config{Runtime: rt}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			// Each instance has a log, and a rotated one: the removed
			// instances' go with them.
			dir := t.TempDir()
			for _, c := range tc.ctrs {
				c.LogPath = filepath.Join(dir, c.Id+".log")
				for _, p := range []string{c.LogPath, c.LogPath + ".20261205-120000"} {
					if err := os.WriteFile(p, nil, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			k.pruneContainers(context.Background(), &runtimePod{containers: tc.ctrs})
			if !slices.Equal(rt.ids, tc.want) {
				t.Errorf("removed %v, want %v", rt.ids, tc.want)
			}
			for _, c := range tc.ctrs {
				_, err := os.Stat(c.LogPath + ".20261205-120000")
				if gone := os.IsNotExist(err); gone != slices.Contains(tc.want, c.Id) {
					t.Errorf("%s's rotated log gone: %v", c.Id, gone)
				}
			}
		})
	}
}
