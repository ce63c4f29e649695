package cgroup

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	"github.com/opencontainers/cgroups/systemd"
)

// Usage is what a cgroup has used, read at At: CPU time so far, memory
// in use, its working set (usage less inactive file pages, as cAdvisor
// counts it: what eviction, `kubectl top` and the CRI report), RSS, page
// faults and the number of processes.
type Usage struct {
	At                          time.Time
	CPUNanos                    uint64
	MemoryBytes, WorkingSet     uint64
	RSSBytes                    uint64
	PageFaults, MajorPageFaults uint64
	Processes                   uint64
}

// ReadUsage reads the usage of the cgroup at path (v1 or v2); a cgroup
// that does not exist is an error wrapping fs.ErrNotExist.
func ReadUsage(path string) (Usage, error) {
	if path == "" {
		return Usage{}, fmt.Errorf("no cgroup path")
	}
	mgr, err := cgmanager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return Usage{}, fmt.Errorf("cgroup %s: %w", path, err)
	}
	// The stats of a missing cgroup read as zeros: it is an error here
	// (a pod not running yet has no usage, not a zero one).
	exists := func(controller string) bool {
		p := mgr.Path(controller) // "" where the host lacks the controller
		return p != "" && cgroups.PathExists(p)
	}
	if !exists("cpu") && !exists("memory") {
		return Usage{}, fmt.Errorf("cgroup %s: %w", path, fs.ErrNotExist)
	}
	st, err := mgr.Stats(&cgroups.StatsOptions{Controllers: cgroups.CPU | cgroups.Memory | cgroups.Pids})
	if err != nil {
		return Usage{}, fmt.Errorf("cgroup %s stats: %w", path, err)
	}
	m := st.MemoryStats
	u := Usage{At: time.Now(), CPUNanos: st.CpuStats.CpuUsage.TotalUsage, MemoryBytes: m.Usage.Usage,
		Processes: st.PidsStats.Current}
	// v1 names the hierarchical counters total_*; v2 has only those.
	stat := func(name string) uint64 {
		if v, ok := m.Stats["total_"+name]; ok {
			return v
		}
		return m.Stats[name]
	}
	u.WorkingSet = u.MemoryBytes - min(stat("inactive_file"), u.MemoryBytes)
	u.RSSBytes = stat("rss")
	if _, v2 := m.Stats["anon"]; v2 {
		u.RSSBytes = m.Stats["anon"]
	}
	u.PageFaults, u.MajorPageFaults = stat("pgfault"), stat("pgmajfault")
	return u, nil
}

// ParentPath is the hierarchy path of a sandbox's cgroup parent as the
// kubelet gives it: a cgroupfs path, or a systemd slice name expanded
// to its path ("" when it is neither).
func ParentPath(parent string) string {
	if parent == "" {
		return ""
	}
	if !strings.Contains(parent, "/") && strings.HasSuffix(parent, ".slice") {
		p, err := systemd.ExpandSlice(parent)
		if err != nil {
			return ""
		}
		return p
	}
	return filepath.Clean(parent)
}

// Detail is a cgroup's full statistics (CPU, memory, pids and block I/O)
// and the processes in it, for the CRI's Prometheus-style metrics.
type Detail struct {
	At    time.Time
	Stats *cgroups.Stats
	// PIDs are the cgroup's processes, its descendants' included.
	PIDs []int
}

// ReadDetail reads the detail of the cgroup at path (v1 or v2).
func ReadDetail(path string) (Detail, error) {
	if path == "" {
		return Detail{}, fmt.Errorf("no cgroup path")
	}
	mgr, err := cgmanager.New(&cgroups.Cgroup{Path: path, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return Detail{}, fmt.Errorf("cgroup %s: %w", path, err)
	}
	st, err := mgr.Stats(&cgroups.StatsOptions{Controllers: cgroups.CPU | cgroups.Memory | cgroups.Pids | cgroups.IO})
	if err != nil {
		return Detail{}, fmt.Errorf("cgroup %s stats: %w", path, err)
	}
	pids, _ := mgr.GetAllPids()
	return Detail{At: time.Now(), Stats: st, PIDs: pids}, nil
}
