package cri

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// The CRI's Prometheus-style metrics (what a kubelet with the
// PodAndContainerStatsFromCRI feature gate serves on /metrics/cadvisor in
// place of cAdvisor's): cAdvisor's names and label keys as containerd
// serves them, with the numbers ContainerStats and PodSandboxStats read
// from the cgroups, the writable layer and the pod's network namespace.
// Every metric carries exactly its descriptor's label values, in order.

// Label keys, as containerd's: a container's metrics name its pod,
// namespace, container, ID and image; network metrics add the
// interface, file system metrics the device, memory failures the failure
// type and scope.
var (
	metricLabelKeys        = []string{"pod", "namespace", "container", "id", "image"}
	networkMetricLabelKeys = withKeys(metricLabelKeys, "interface")
	diskMetricLabelKeys    = withKeys(metricLabelKeys, "device")
	failureMetricLabelKeys = withKeys(metricLabelKeys, "failure_type", "scope")
)

func withKeys(base []string, more ...string) []string {
	return append(append([]string(nil), base...), more...)
}

// metricDescriptors are the metrics ListPodSandboxMetrics reports:
// cAdvisor's (those critest expects of a runtime), with containerd's
// help texts.
var metricDescriptors = []*runtimeapi.MetricDescriptor{
	// CPU
	{Name: "container_cpu_usage_seconds_total", Help: "Cumulative CPU time consumed in seconds.", LabelKeys: metricLabelKeys},
	{Name: "container_cpu_user_seconds_total", Help: "Cumulative user CPU time consumed in seconds.", LabelKeys: metricLabelKeys},
	{Name: "container_cpu_system_seconds_total", Help: "Cumulative system CPU time consumed in seconds.", LabelKeys: metricLabelKeys},
	{Name: "container_cpu_cfs_periods_total", Help: "Number of elapsed enforcement period intervals.", LabelKeys: metricLabelKeys},
	{Name: "container_cpu_cfs_throttled_periods_total", Help: "Number of throttled period intervals.", LabelKeys: metricLabelKeys},
	{Name: "container_cpu_cfs_throttled_seconds_total", Help: "Total time duration the container has been throttled.", LabelKeys: metricLabelKeys},
	// Memory
	{Name: "container_memory_cache", Help: "Number of bytes of page cache memory.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_rss", Help: "Size of RSS in bytes.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_kernel_usage", Help: "Size of kernel memory allocated in bytes.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_mapped_file", Help: "Size of memory mapped files in bytes.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_swap", Help: "Container swap usage in bytes.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_failcnt", Help: "Number of memory usage hits limits", LabelKeys: metricLabelKeys},
	{Name: "container_memory_usage_bytes", Help: "Current memory usage in bytes, including all memory regardless of when it was accessed", LabelKeys: metricLabelKeys},
	{Name: "container_memory_max_usage_bytes", Help: "Maximum memory usage recorded in bytes", LabelKeys: metricLabelKeys},
	{Name: "container_memory_working_set_bytes", Help: "Current working set in bytes.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_failures_total", Help: "Cumulative count of memory allocation failures.", LabelKeys: failureMetricLabelKeys},
	{Name: "container_oom_events_total", Help: "Count of out of memory events observed for the container", LabelKeys: metricLabelKeys},
	// File system and block I/O
	{Name: "container_fs_inodes_free", Help: "Number of available Inodes", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_inodes_total", Help: "Number of Inodes", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_limit_bytes", Help: "Number of bytes that can be consumed by the container on this filesystem.", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_usage_bytes", Help: "Number of bytes that are consumed by the container on this filesystem.", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_reads_bytes_total", Help: "Cumulative count of bytes read", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_reads_total", Help: "Cumulative count of reads completed", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_writes_bytes_total", Help: "Cumulative count of bytes written", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_writes_total", Help: "Cumulative count of writes completed", LabelKeys: diskMetricLabelKeys},
	{Name: "container_blkio_device_usage_total", Help: "Blkio device bytes usage", LabelKeys: withKeys(diskMetricLabelKeys, "major", "minor", "operation")},
	// Network (the pod's)
	{Name: "container_network_receive_bytes_total", Help: "Cumulative count of bytes received", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_packets_total", Help: "Cumulative count of packets received", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_packets_dropped_total", Help: "Cumulative count of packets dropped while receiving", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_errors_total", Help: "Cumulative count of errors encountered while receiving", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_bytes_total", Help: "Cumulative count of bytes transmitted", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_packets_total", Help: "Cumulative count of packets transmitted", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_packets_dropped_total", Help: "Cumulative count of packets dropped while transmitting", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_errors_total", Help: "Cumulative count of errors encountered while transmitting", LabelKeys: networkMetricLabelKeys},
	// Processes
	{Name: "container_processes", Help: "Number of processes running inside the container.", LabelKeys: metricLabelKeys},
	{Name: "container_threads", Help: "Number of threads running inside the container", LabelKeys: metricLabelKeys},
	{Name: "container_threads_max", Help: "Maximum number of threads allowed inside the container, infinity if value is zero", LabelKeys: metricLabelKeys},
	{Name: "container_file_descriptors", Help: "Number of open file descriptors for the container.", LabelKeys: metricLabelKeys},
	{Name: "container_sockets", Help: "Number of open sockets for the container.", LabelKeys: metricLabelKeys},
	// Miscellaneous and the container's spec
	{Name: "container_last_seen", Help: "Last time a container was seen by the exporter", LabelKeys: metricLabelKeys},
	{Name: "container_start_time_seconds", Help: "Start time of the container since unix epoch in seconds", LabelKeys: metricLabelKeys},
	{Name: "container_spec_cpu_period", Help: "CPU period of the container", LabelKeys: metricLabelKeys},
	{Name: "container_spec_cpu_quota", Help: "CPU quota of the container", LabelKeys: metricLabelKeys},
	{Name: "container_spec_cpu_shares", Help: "CPU share of the container", LabelKeys: metricLabelKeys},
	{Name: "container_spec_memory_limit_bytes", Help: "Memory limit for the container", LabelKeys: metricLabelKeys},
	{Name: "container_spec_memory_swap_limit_bytes", Help: "Memory swap limit for the container", LabelKeys: metricLabelKeys},
}

// ListMetricDescriptors describes the metrics ListPodSandboxMetrics
// reports.
func (s *Service) ListMetricDescriptors(ctx context.Context, req *runtimeapi.ListMetricDescriptorsRequest) (*runtimeapi.ListMetricDescriptorsResponse, error) {
	return &runtimeapi.ListMetricDescriptorsResponse{Descriptors: metricDescriptors}, nil
}

// ListPodSandboxMetrics reports the metrics of every ready sandbox: its
// network interfaces' counters, and its running containers' CPU, memory,
// process and writable-layer numbers.
func (s *Service) ListPodSandboxMetrics(ctx context.Context, req *runtimeapi.ListPodSandboxMetricsRequest) (*runtimeapi.ListPodSandboxMetricsResponse, error) {
	s.mu.Lock()
	var ready []*sandbox
	for _, sb := range s.sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			ready = append(ready, sb)
		}
	}
	s.mu.Unlock()
	sort.Slice(ready, func(i, j int) bool { return ready[i].CreatedAt < ready[j].CreatedAt })
	resp := &runtimeapi.ListPodSandboxMetricsResponse{}
	for _, sb := range ready {
		resp.PodMetrics = append(resp.PodMetrics, s.sandboxMetrics(sb))
	}
	return resp, nil
}

// metricSet builds metrics sharing a timestamp and base label values.
type metricSet struct {
	at     int64
	labels []string
	out    []*runtimeapi.Metric
}

func (m *metricSet) add(name string, typ runtimeapi.MetricType, v uint64, extra ...string) {
	m.out = append(m.out, &runtimeapi.Metric{Name: name, Timestamp: m.at, MetricType: typ,
		LabelValues: withKeys(m.labels, extra...), Value: &runtimeapi.UInt64Value{Value: v}})
}

func (s *Service) sandboxMetrics(sb *sandbox) *runtimeapi.PodSandboxMetrics {
	md := sb.Config.GetMetadata()
	pm := &runtimeapi.PodSandboxMetrics{PodSandboxId: sb.ID}
	s.mu.Lock()
	pid := sb.PausePID
	s.mu.Unlock()
	if sb.NetNS != "" && pid > 0 {
		// The pod's own interfaces, as cAdvisor reports them for the
		// pod: no container, the sandbox's ID.
		set := &metricSet{at: time.Now().UnixNano(), labels: []string{md.GetName(), md.GetNamespace(), "", sb.ID, ""}}
		devs, err := readNetDev(fmt.Sprintf("/proc/%d/net/dev", pid))
		if err == nil {
			for _, d := range devs {
				if d.name == "lo" {
					continue
				}
				for _, c := range []struct {
					name string
					v    uint64
				}{
					{"container_network_receive_bytes_total", d.rxBytes},
					{"container_network_receive_packets_total", d.rxPackets},
					{"container_network_receive_errors_total", d.rxErrors},
					{"container_network_receive_packets_dropped_total", d.rxDropped},
					{"container_network_transmit_bytes_total", d.txBytes},
					{"container_network_transmit_packets_total", d.txPackets},
					{"container_network_transmit_errors_total", d.txErrors},
					{"container_network_transmit_packets_dropped_total", d.txDropped},
				} {
					set.add(c.name, runtimeapi.MetricType_COUNTER, c.v, d.name)
				}
			}
		}
		pm.Metrics = set.out
	}
	for _, c := range s.sandboxContainers(sb.ID) {
		s.mu.Lock()
		running, startedAt := c.State == runtimeapi.ContainerState_CONTAINER_RUNNING, c.StartedAt
		s.mu.Unlock()
		if !running {
			continue
		}
		pm.ContainerMetrics = append(pm.ContainerMetrics, s.containerMetrics(c, md, startedAt))
	}
	return pm
}

func (s *Service) containerMetrics(c *container, sbMD *runtimeapi.PodSandboxMetadata, startedAt int64) *runtimeapi.ContainerMetrics {
	cgPath := cgroup.ParseLeaf(c.Cgroup).Path()
	d, _ := cgroup.ReadDetail(cgPath)
	st := d.Stats
	if st == nil {
		st = cgroups.NewStats()
	}
	if d.At.IsZero() {
		d.At = time.Now()
	}
	s.mu.Lock() // UpdateContainerResources replaces them
	r := c.Config.GetLinux().GetResources()
	cpuPeriod, cpuQuota, cpuShares := r.GetCpuPeriod(), r.GetCpuQuota(), r.GetCpuShares()
	memLimit, swapLimit := r.GetMemoryLimitInBytes(), r.GetMemorySwapLimitInBytes()
	s.mu.Unlock()
	set := &metricSet{at: d.At.UnixNano(), labels: []string{sbMD.GetName(), sbMD.GetNamespace(), c.Config.GetMetadata().GetName(), c.ID, c.ImageName}}
	counter, gauge := runtimeapi.MetricType_COUNTER, runtimeapi.MetricType_GAUGE
	const second = uint64(time.Second)

	cpu := st.CpuStats
	set.add("container_cpu_usage_seconds_total", counter, cpu.CpuUsage.TotalUsage/second)
	set.add("container_cpu_user_seconds_total", counter, cpu.CpuUsage.UsageInUsermode/second)
	set.add("container_cpu_system_seconds_total", counter, cpu.CpuUsage.UsageInKernelmode/second)
	set.add("container_cpu_cfs_periods_total", counter, cpu.ThrottlingData.Periods)
	set.add("container_cpu_cfs_throttled_periods_total", counter, cpu.ThrottlingData.ThrottledPeriods)
	set.add("container_cpu_cfs_throttled_seconds_total", counter, cpu.ThrottlingData.ThrottledTime/second)

	m := st.MemoryStats
	stat := func(names ...string) uint64 { // v1's hierarchical total_*, else the name (v2)
		for _, n := range names {
			if v, ok := m.Stats["total_"+n]; ok {
				return v
			}
			if v, ok := m.Stats[n]; ok {
				return v
			}
		}
		return 0
	}
	usage := m.Usage.Usage
	swap := m.SwapOnlyUsage.Usage
	if swap == 0 && m.SwapUsage.Usage > usage {
		swap = m.SwapUsage.Usage - usage // v1: memory and swap
	}
	kernel := m.KernelUsage.Usage
	if kernel == 0 {
		kernel = stat("kernel")
	}
	set.add("container_memory_cache", gauge, max(m.Cache, stat("cache", "file")))
	set.add("container_memory_rss", gauge, stat("rss", "anon"))
	set.add("container_memory_kernel_usage", gauge, kernel)
	set.add("container_memory_mapped_file", gauge, stat("mapped_file", "file_mapped"))
	set.add("container_memory_swap", gauge, swap)
	set.add("container_memory_failcnt", counter, m.Usage.Failcnt)
	set.add("container_memory_usage_bytes", gauge, usage)
	set.add("container_memory_max_usage_bytes", gauge, m.Usage.MaxUsage)
	set.add("container_memory_working_set_bytes", gauge, usage-min(stat("inactive_file"), usage))
	set.add("container_memory_failures_total", counter, stat("pgfault"), "pgfault", "container")
	set.add("container_memory_failures_total", counter, stat("pgmajfault"), "pgmajfault", "container")
	set.add("container_oom_events_total", counter, oomKills(cgPath))

	bytes, inodes := rootfs.WritableUsage(s.containerDir(c.ID))
	var fs unix.Statfs_t
	_ = unix.Statfs(s.cfg.StateDir, &fs)
	dev := s.cfg.StateDir
	set.add("container_fs_usage_bytes", gauge, bytes, dev)
	set.add("container_fs_inodes_total", gauge, max(fs.Files, inodes), dev)
	set.add("container_fs_inodes_free", gauge, fs.Ffree, dev)
	set.add("container_fs_limit_bytes", gauge, fs.Blocks*uint64(fs.Bsize), dev)
	for _, e := range blkioTotals(st.BlkioStats.IoServiceBytesRecursive) {
		set.add("container_blkio_device_usage_total", counter, e.Value, e.device, strconv.FormatUint(e.Major, 10), strconv.FormatUint(e.Minor, 10), e.Op)
		switch e.Op {
		case "Read", "read":
			set.add("container_fs_reads_bytes_total", counter, e.Value, e.device)
		case "Write", "write":
			set.add("container_fs_writes_bytes_total", counter, e.Value, e.device)
		}
	}
	for _, e := range blkioTotals(st.BlkioStats.IoServicedRecursive) {
		switch e.Op {
		case "Read", "read":
			set.add("container_fs_reads_total", counter, e.Value, e.device)
		case "Write", "write":
			set.add("container_fs_writes_total", counter, e.Value, e.device)
		}
	}

	fds, sockets := openFiles(d.PIDs)
	set.add("container_processes", gauge, uint64(len(d.PIDs)))
	set.add("container_threads", gauge, st.PidsStats.Current)
	set.add("container_threads_max", gauge, st.PidsStats.Limit)
	set.add("container_file_descriptors", gauge, fds)
	set.add("container_sockets", gauge, sockets)

	set.add("container_last_seen", gauge, uint64(time.Now().Unix()))
	set.add("container_start_time_seconds", gauge, uint64(startedAt/int64(time.Second)))
	set.add("container_spec_cpu_period", gauge, uint64(max(cpuPeriod, 0)))
	set.add("container_spec_cpu_quota", gauge, uint64(max(cpuQuota, 0)))
	set.add("container_spec_cpu_shares", gauge, uint64(max(cpuShares, 0)))
	set.add("container_spec_memory_limit_bytes", gauge, uint64(max(memLimit, 0)))
	set.add("container_spec_memory_swap_limit_bytes", gauge, uint64(max(swapLimit, 0)))
	return &runtimeapi.ContainerMetrics{ContainerId: c.ID, Metrics: set.out}
}

// blkioEntry is a block I/O counter of one device, named as the node
// knows it (/dev/sda), or major:minor.
type blkioEntry struct {
	cgroups.BlkioStatEntry
	device string
}

// blkioTotals keeps the per-device counters of entries, without the
// "Total" (or empty) operation rows.
func blkioTotals(entries []cgroups.BlkioStatEntry) []blkioEntry {
	var out []blkioEntry
	for _, e := range entries {
		if e.Op == "" || strings.EqualFold(e.Op, "total") {
			continue
		}
		dev := fmt.Sprintf("%d:%d", e.Major, e.Minor)
		if data, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%s/uevent", dev)); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if name, ok := strings.CutPrefix(line, "DEVNAME="); ok {
					dev = "/dev/" + name
				}
			}
		}
		out = append(out, blkioEntry{BlkioStatEntry: e, device: dev})
	}
	return out
}

// oomKills is the number of processes the kernel's OOM killer killed in
// the cgroup: oom_kill in memory.events (v2) or memory.oom_control (v1).
func oomKills(path string) uint64 {
	for _, f := range []string{filepath.Join("/sys/fs/cgroup", path, "memory.events"), filepath.Join("/sys/fs/cgroup/memory", path, "memory.oom_control")} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				return n
			}
		}
	}
	return 0
}

// openFiles counts the open file descriptors of the processes, and those
// of them that are sockets.
func openFiles(pids []int) (fds, sockets uint64) {
	for _, pid := range pids {
		dir := fmt.Sprintf("/proc/%d/fd", pid)
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			fds++
			if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(target, "socket:") {
				sockets++
			}
		}
	}
	return fds, sockets
}

// netDev is one interface's counters from /proc/<pid>/net/dev.
type netDev struct {
	name                                    string
	rxBytes, rxPackets, rxErrors, rxDropped uint64
	txBytes, txPackets, txErrors, txDropped uint64
}

// readNetDev parses a /proc net/dev file: two header lines, then
// "name: rx bytes packets errs drop fifo frame compressed multicast tx
// bytes packets errs drop ...".
func readNetDev(path string) ([]netDev, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []netDev
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) < 16 {
			continue
		}
		n := make([]uint64, 16)
		for i := range n {
			n[i], _ = strconv.ParseUint(fields[i], 10, 64)
		}
		out = append(out, netDev{name: strings.TrimSpace(name),
			rxBytes: n[0], rxPackets: n[1], rxErrors: n[2], rxDropped: n[3],
			txBytes: n[8], txPackets: n[9], txErrors: n[10], txDropped: n[11]})
	}
	return out, sc.Err()
}
