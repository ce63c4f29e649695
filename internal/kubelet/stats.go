package kubelet

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
)

// usage is what a cgroup has used: CPU time so far and the memory working
// set (usage less inactive file pages, as cAdvisor counts it, which is what
// eviction and `kubectl top` go by).
type usage struct {
	cpuNanos   uint64
	workingSet uint64
	at         time.Time
}

// readUsage reads the usage of the cgroup at p (v1 or v2).
func readUsage(p string) (usage, error) {
	mgr, err := manager(p)
	if err != nil {
		return usage{}, err
	}
	st, err := mgr.Stats(&cgroups.StatsOptions{Controllers: cgroups.CPU | cgroups.Memory})
	if err != nil {
		return usage{}, fmt.Errorf("cgroup %s stats: %w", p, err)
	}
	u := usage{cpuNanos: st.CpuStats.CpuUsage.TotalUsage, workingSet: st.MemoryStats.Usage.Usage, at: time.Now()}
	inactive, ok := st.MemoryStats.Stats["total_inactive_file"] // v1
	if !ok {
		inactive = st.MemoryStats.Stats["inactive_file"] // v2
	}
	if inactive < u.workingSet {
		u.workingSet -= inactive
	} else {
		u.workingSet = 0
	}
	return u, nil
}

// nodeMemory reads the node's memory from /proc/meminfo: capacity and the
// working set (used memory less inactive file pages), whose difference is
// the eviction signal memory.available.
func nodeMemory() (capacity, workingSet int64, err error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	fields := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err == nil {
			fields[name] = kb * 1024
		}
	}
	capacity = fields["MemTotal"]
	workingSet = capacity - fields["MemFree"] - fields["Inactive(file)"]
	return capacity, max(workingSet, 0), sc.Err()
}
