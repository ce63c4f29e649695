package kubelet

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/peapod/peapod/internal/cgroup"
)

// usage is what a cgroup has used: CPU time so far and the memory working
// set, at a time.
type usage struct {
	cpuNanos   uint64
	workingSet uint64
	at         time.Time
}

// readUsage reads the usage of the cgroup at p (v1 or v2).
func readUsage(p string) (usage, error) {
	u, err := cgroup.ReadUsage(p)
	if err != nil {
		return usage{}, err
	}
	return usage{cpuNanos: u.CPUNanos, workingSet: u.WorkingSet, at: u.At}, nil
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
