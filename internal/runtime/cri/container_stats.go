package cri

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// ContainerStats reports a container's CPU and memory use from its
// cgroup and the size of its writable layer. A container that is not
// running reports timestamps with no usage.
func (s *Service) ContainerStats(ctx context.Context, req *runtimeapi.ContainerStatsRequest) (*runtimeapi.ContainerStatsResponse, error) {
	c, ok := s.getContainer(req.GetContainerId())
	if !ok {
		return nil, errNotFound("container", req.GetContainerId())
	}
	return &runtimeapi.ContainerStatsResponse{Stats: s.containerStats(c)}, nil
}

// ListContainerStats reports the stats of the containers the filter
// selects (by ID, sandbox and labels; all without a filter).
func (s *Service) ListContainerStats(ctx context.Context, req *runtimeapi.ListContainerStatsRequest) (*runtimeapi.ListContainerStatsResponse, error) {
	f := req.GetFilter()
	sel := labels.SelectorFromSet(f.GetLabelSelector())
	s.mu.Lock()
	var picked []*container
	for _, c := range s.containers {
		if (f.GetId() == "" || f.GetId() == c.ID) && (f.GetPodSandboxId() == "" || f.GetPodSandboxId() == c.SandboxID) &&
			sel.Matches(labels.Set(c.Config.GetLabels())) {
			picked = append(picked, c)
		}
	}
	s.mu.Unlock()
	resp := &runtimeapi.ListContainerStatsResponse{}
	for _, c := range picked {
		resp.Stats = append(resp.Stats, s.containerStats(c))
	}
	return resp, nil
}

func (s *Service) containerStats(c *container) *runtimeapi.ContainerStats {
	st := &runtimeapi.ContainerStats{
		Attributes: &runtimeapi.ContainerAttributes{Id: c.ID, Metadata: c.Config.GetMetadata(),
			Labels: c.Config.GetLabels(), Annotations: c.Config.GetAnnotations()},
	}
	u, _ := cgroup.ReadUsage(cgroup.ParseLeaf(c.Cgroup).Path())
	if u.At.IsZero() {
		u.At = time.Now()
	}
	st.Cpu, st.Memory = cpuStats(u), memoryStats(u)
	bytes, inodes := rootfs.WritableUsage(s.containerDir(c.ID))
	st.WritableLayer = &runtimeapi.FilesystemUsage{
		Timestamp: u.At.UnixNano(), FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: s.cfg.StateDir},
		UsedBytes: &runtimeapi.UInt64Value{Value: bytes}, InodesUsed: &runtimeapi.UInt64Value{Value: inodes},
	}
	return st
}

// cpuStats is u as CRI CPU stats. The rate (usage_nano_cores) needs two
// samples over time; the kubelet computes it from the cumulative value.
func cpuStats(u cgroup.Usage) *runtimeapi.CpuUsage {
	return &runtimeapi.CpuUsage{Timestamp: u.At.UnixNano(), UsageCoreNanoSeconds: &runtimeapi.UInt64Value{Value: u.CPUNanos}}
}

func memoryStats(u cgroup.Usage) *runtimeapi.MemoryUsage {
	return &runtimeapi.MemoryUsage{
		Timestamp:       u.At.UnixNano(),
		WorkingSetBytes: &runtimeapi.UInt64Value{Value: u.WorkingSet},
		UsageBytes:      &runtimeapi.UInt64Value{Value: u.MemoryBytes},
		RssBytes:        &runtimeapi.UInt64Value{Value: u.RSSBytes},
		PageFaults:      &runtimeapi.UInt64Value{Value: u.PageFaults},
		MajorPageFaults: &runtimeapi.UInt64Value{Value: u.MajorPageFaults},
	}
}
