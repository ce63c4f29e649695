package cri

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

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

// metricDescriptors are the metrics ListPodSandboxMetrics reports.
var metricDescriptors = []*runtimeapi.MetricDescriptor{
	{Name: "container_cpu_usage_seconds_total", Help: "Cumulative CPU time consumed in seconds.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_usage_bytes", Help: "Current memory usage in bytes, including all memory regardless of when it was accessed", LabelKeys: metricLabelKeys},
	{Name: "container_memory_working_set_bytes", Help: "Amount of memory that is actively used by the container, excluding cached memory.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_rss", Help: "Size of RSS in bytes, total anonymous memory and swap cache memory used by the container.", LabelKeys: metricLabelKeys},
	{Name: "container_memory_failures_total", Help: "Cumulative count of container memory allocation failures.", LabelKeys: failureMetricLabelKeys},
	{Name: "container_processes", Help: "Number of processes running inside the container.", LabelKeys: metricLabelKeys},
	{Name: "container_start_time_seconds", Help: "Start time of the container since unix epoch in seconds", LabelKeys: metricLabelKeys},
	{Name: "container_fs_usage_bytes", Help: "Number of bytes that are consumed by the container on this filesystem.", LabelKeys: diskMetricLabelKeys},
	{Name: "container_fs_inodes_total", Help: "Number of Inodes", LabelKeys: diskMetricLabelKeys},
	{Name: "container_network_receive_bytes_total", Help: "Cumulative count of bytes received", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_packets_total", Help: "Cumulative count of packets received", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_packets_dropped_total", Help: "Cumulative count of packets dropped while receiving", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_receive_errors_total", Help: "Cumulative count of errors encountered while receiving", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_bytes_total", Help: "Cumulative count of bytes transmitted", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_packets_total", Help: "Cumulative count of packets transmitted", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_packets_dropped_total", Help: "Cumulative count of packets dropped while transmitting", LabelKeys: networkMetricLabelKeys},
	{Name: "container_network_transmit_errors_total", Help: "Cumulative count of errors encountered while transmitting", LabelKeys: networkMetricLabelKeys},
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
	u, _ := cgroup.ReadUsage(cgroup.ParseLeaf(c.Cgroup).Path())
	if u.At.IsZero() {
		u.At = time.Now()
	}
	set := &metricSet{at: u.At.UnixNano(), labels: []string{sbMD.GetName(), sbMD.GetNamespace(), c.Config.GetMetadata().GetName(), c.ID, c.ImageName}}
	set.add("container_cpu_usage_seconds_total", runtimeapi.MetricType_COUNTER, u.CPUNanos/uint64(time.Second))
	set.add("container_memory_usage_bytes", runtimeapi.MetricType_GAUGE, u.MemoryBytes)
	set.add("container_memory_working_set_bytes", runtimeapi.MetricType_GAUGE, u.WorkingSet)
	set.add("container_memory_rss", runtimeapi.MetricType_GAUGE, u.RSSBytes)
	set.add("container_memory_failures_total", runtimeapi.MetricType_COUNTER, u.PageFaults, "pgfault", "container")
	set.add("container_memory_failures_total", runtimeapi.MetricType_COUNTER, u.MajorPageFaults, "pgmajfault", "container")
	set.add("container_processes", runtimeapi.MetricType_GAUGE, u.Processes)
	set.add("container_start_time_seconds", runtimeapi.MetricType_GAUGE, uint64(startedAt/int64(time.Second)))
	bytes, inodes := rootfs.WritableUsage(s.containerDir(c.ID))
	set.add("container_fs_usage_bytes", runtimeapi.MetricType_GAUGE, bytes, s.cfg.StateDir)
	set.add("container_fs_inodes_total", runtimeapi.MetricType_GAUGE, inodes, s.cfg.StateDir)
	return &runtimeapi.ContainerMetrics{ContainerId: c.ID, Metrics: set.out}
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
