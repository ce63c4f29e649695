package kubelet

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
)

// histogram is a Prometheus histogram.
type histogram struct {
	mu      sync.Mutex
	bounds  []float64
	buckets []uint64 // cumulative counts are computed when written
	sum     float64
	count   uint64
}

// startBuckets are those of kubelet_pod_start_sli_duration_seconds with
// finer ones below a second, where peapod's pods start.
var startBuckets = []float64{0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 600, 1200, 3600}

func (h *histogram) observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buckets == nil {
		h.bounds = startBuckets
		h.buckets = make([]uint64, len(h.bounds))
	}
	i := sort.SearchFloat64s(h.bounds, v)
	if i < len(h.buckets) {
		h.buckets[i]++
	}
	h.sum += v
	h.count++
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range startBuckets {
		if h.buckets != nil {
			cum += h.buckets[i]
		}
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, formatFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, h.count, name, formatFloat(h.sum), name, h.count)
}

func formatFloat(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// WriteMetrics writes the kubelet's series in the Prometheus text format:
// cAdvisor's container_cpu_usage_seconds_total and
// container_memory_working_set_bytes per running container, and
// peapod_pod_start_duration_seconds, the time from the kubelet first
// seeing a pod to its status turning Running.
func (k *Kubelet) WriteMetrics(w io.Writer) {
	usages := k.ContainerUsages()
	sort.Slice(usages, func(i, j int) bool {
		a, b := usages[i], usages[j]
		return a.Namespace+"/"+a.Pod+"/"+a.Container < b.Namespace+"/"+b.Pod+"/"+b.Container
	})
	labels := func(u ContainerUsage) string {
		return fmt.Sprintf(`container=%q,namespace=%q,pod=%q`, u.Container, u.Namespace, u.Pod)
	}
	fmt.Fprint(w, "# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed in seconds.\n# TYPE container_cpu_usage_seconds_total counter\n")
	for _, u := range usages {
		fmt.Fprintf(w, "container_cpu_usage_seconds_total{%s} %s\n", labels(u), formatFloat(u.CPUSeconds))
	}
	fmt.Fprint(w, "# HELP container_memory_working_set_bytes Current working set in bytes.\n# TYPE container_memory_working_set_bytes gauge\n")
	for _, u := range usages {
		fmt.Fprintf(w, "container_memory_working_set_bytes{%s} %d\n", labels(u), u.WorkingSetBytes)
	}
	k.startLatency.write(w, "peapod_pod_start_duration_seconds", "Time from the kubelet first seeing a pod to its status turning Running, in seconds.")
}
