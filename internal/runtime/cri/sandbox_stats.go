package cri

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
)

// PodSandboxStats reports a sandbox's use: its cgroup parent's CPU,
// memory and process count, and each of its containers' stats.
func (s *Service) PodSandboxStats(ctx context.Context, req *runtimeapi.PodSandboxStatsRequest) (*runtimeapi.PodSandboxStatsResponse, error) {
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return nil, errNotFound("sandbox", req.GetPodSandboxId())
	}
	return &runtimeapi.PodSandboxStatsResponse{Stats: s.sandboxStats(sb)}, nil
}

// ListPodSandboxStats reports the stats of the sandboxes the filter
// selects (by ID and labels; all without a filter).
func (s *Service) ListPodSandboxStats(ctx context.Context, req *runtimeapi.ListPodSandboxStatsRequest) (*runtimeapi.ListPodSandboxStatsResponse, error) {
	f := req.GetFilter()
	sel := labels.SelectorFromSet(f.GetLabelSelector())
	s.mu.Lock()
	var picked []*sandbox
	for _, sb := range s.sandboxes {
		if (f.GetId() == "" || f.GetId() == sb.ID) && sel.Matches(labels.Set(sb.Config.GetLabels())) {
			picked = append(picked, sb)
		}
	}
	s.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxStatsResponse{}
	for _, sb := range picked {
		resp.Stats = append(resp.Stats, s.sandboxStats(sb))
	}
	return resp, nil
}

func (s *Service) sandboxStats(sb *sandbox) *runtimeapi.PodSandboxStats {
	u, _ := cgroup.ReadUsage(cgroup.ParentPath(sb.Cgroup))
	if u.At.IsZero() {
		u.At = time.Now()
	}
	linux := &runtimeapi.LinuxPodSandboxStats{
		Cpu: cpuStats(u), Memory: memoryStats(u),
		Process: &runtimeapi.ProcessUsage{Timestamp: u.At.UnixNano(), ProcessCount: &runtimeapi.UInt64Value{Value: u.Processes}},
	}
	for _, c := range s.sandboxContainers(sb.ID) {
		linux.Containers = append(linux.Containers, s.containerStats(c))
	}
	return &runtimeapi.PodSandboxStats{
		Attributes: &runtimeapi.PodSandboxAttributes{Id: sb.ID, Metadata: sb.Config.GetMetadata(),
			Labels: sb.Config.GetLabels(), Annotations: sb.Config.GetAnnotations()},
		Linux: linux,
	}
}
