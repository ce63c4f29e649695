package kubelet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

// Resource metrics, as metrics-server serves them from the kubelet's
// summary: CPU as a rate over a window (the time since the previous
// sample, taken every housekeeping interval) and memory as the working
// set. `kubectl top` reads them through the metrics.k8s.io API.

// minWindow is the shortest window a CPU rate is computed over.
const minWindow = time.Second

// sampler keeps, per cgroup (or "node"), the last sample and the rate
// computed when it was taken.
type sampler struct {
	mu   sync.Mutex
	last map[string]sample
}

type sample struct {
	u      usage
	rate   float64 // cores, over window
	window time.Duration
}

// observe takes u as the newest sample of key (for the housekeeping pass).
func (s *sampler) observe(key string, u usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]sample{}
	}
	next := sample{u: u}
	prev, ok := s.last[key]
	if ok && u.at.Sub(prev.u.at) < minWindow && u.cpuNanos >= prev.u.cpuNanos {
		// Too soon to measure over (a ticker can fire a little early
		// after a late tick): keep the older sample as the base, or
		// there would be no rate until the next one.
		return
	}
	if ok && u.cpuNanos >= prev.u.cpuNanos {
		next.window = u.at.Sub(prev.u.at)
		next.rate = float64(u.cpuNanos-prev.u.cpuNanos) / float64(next.window.Nanoseconds())
	}
	s.last[key] = next
}

// keep forgets every key but those given (gone pods and containers).
func (s *sampler) keep(keys map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.last {
		if !keys[k] {
			delete(s.last, k)
		}
	}
}

// rate is the CPU rate of key up to u (read now), over the time since the
// last sample, or the last sample's own rate if that is too recent; false
// when there is none yet.
func (s *sampler) rate(key string, u usage) (float64, time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.last[key]
	switch {
	case !ok:
		return 0, 0, false
	case u.at.Sub(prev.u.at) >= minWindow && u.cpuNanos >= prev.u.cpuNanos:
		w := u.at.Sub(prev.u.at)
		return float64(u.cpuNanos-prev.u.cpuNanos) / float64(w.Nanoseconds()), w, true
	case prev.window > 0:
		return prev.rate, prev.window, true
	}
	return 0, 0, false
}

// sampleAll records a sample of the node and of every running pod and
// container; the housekeeping pass calls it.
func (k *Kubelet) sampleAll() {
	seen := map[string]bool{"node": true}
	if u, err := nodeUsage(); err == nil {
		k.samples.observe("node", u)
	}
	for _, p := range k.runningPods() {
		for _, c := range runningContainers(p) {
			cg := k.cgroups.containerPath(p, c.id)
			if u, err := readUsage(cg); err == nil {
				k.samples.observe(cg, u)
				seen[cg] = true
			}
		}
	}
	k.samples.keep(seen)
}

// runningPods are the pods in the cache that run (phase Running).
func (k *Kubelet) runningPods() []*corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []*corev1.Pod
	for _, p := range k.pods {
		if p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out
}

type runningContainer struct{ name, id string }

func runningContainers(p *corev1.Pod) []runningContainer {
	var out []runningContainer
	for _, cs := range p.Status.ContainerStatuses {
		if _, id, ok := strings.Cut(cs.ContainerID, "://"); ok && cs.State.Running != nil {
			out = append(out, runningContainer{cs.Name, id})
		}
	}
	return out
}

// PodMetrics returns the metrics of the running pods of ns ("" = all)
// matching sel; pods without a CPU rate yet are left out, as
// metrics-server leaves them out.
func (k *Kubelet) PodMetrics(ctx context.Context, ns string, sel labels.Selector) []metricsv1beta1.PodMetrics {
	var out []metricsv1beta1.PodMetrics
	for _, p := range k.runningPods() {
		if (ns != "" && p.Namespace != ns) || (sel != nil && !sel.Matches(labels.Set(p.Labels))) {
			continue
		}
		if m, ok := k.podMetrics(p); ok {
			out = append(out, m)
		}
	}
	return out
}

func (k *Kubelet) podMetrics(p *corev1.Pod) (metricsv1beta1.PodMetrics, bool) {
	m := metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, Labels: p.Labels, CreationTimestamp: metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second)),
	}}
	var window time.Duration
	var at time.Time
	for _, c := range runningContainers(p) {
		cg := k.cgroups.containerPath(p, c.id)
		u, err := readUsage(cg)
		if err != nil {
			continue
		}
		rate, w, ok := k.samples.rate(cg, u)
		if !ok {
			return m, false
		}
		window, at = max(window, w), u.at
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: c.name, Usage: usageList(rate, u.workingSet)})
	}
	if len(m.Containers) == 0 {
		return m, false
	}
	m.Timestamp, m.Window = metav1.NewTime(at.UTC()), metav1.Duration{Duration: window.Round(time.Millisecond)}
	return m, true
}

// NodeMetrics returns the node's metrics, or none without a CPU rate yet.
func (k *Kubelet) NodeMetrics(ctx context.Context) []metricsv1beta1.NodeMetrics {
	u, err := nodeUsage()
	if err != nil {
		return nil
	}
	rate, w, ok := k.samples.rate("node", u)
	if !ok {
		return nil
	}
	return []metricsv1beta1.NodeMetrics{{
		ObjectMeta: metav1.ObjectMeta{Name: k.cfg.NodeName, Labels: map[string]string{"kubernetes.io/hostname": k.cfg.NodeName},
			CreationTimestamp: metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second))},
		Timestamp: metav1.NewTime(u.at.UTC()), Window: metav1.Duration{Duration: w.Round(time.Millisecond)},
		Usage: usageList(rate, u.workingSet),
	}}
}

// usageList is a metrics-server usage: CPU in nanocores, memory in Ki.
func usageList(cores float64, workingSet uint64) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewScaledQuantity(int64(cores*1e9), resource.Nano),
		corev1.ResourceMemory: *resource.NewQuantity(int64(workingSet/1024)*1024, resource.BinarySI),
	}
}

// nodeUsage reads the node's CPU time from /proc/stat and its memory
// working set from /proc/meminfo.
func nodeUsage() (usage, error) {
	_, ws, err := nodeMemory()
	if err != nil {
		return usage{}, err
	}
	f, err := os.Open("/proc/stat")
	if err != nil {
		return usage{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return usage{}, fmt.Errorf("/proc/stat: empty")
	}
	fields := strings.Fields(sc.Text()) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		return usage{}, fmt.Errorf("/proc/stat: unexpected %q", sc.Text())
	}
	var busy uint64
	for i, f := range fields[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseUint(f, 10, 64)
		busy += n
	}
	const userHZ = 100 // clock ticks per second in /proc/stat
	return usage{cpuNanos: busy * (1e9 / userHZ), workingSet: uint64(ws), at: time.Now()}, nil
}

// ContainerUsage is one container's cumulative CPU time and memory working
// set, for the /metrics endpoint.
type ContainerUsage struct {
	Namespace, Pod, Container string
	PodUID                    types.UID
	CPUSeconds                float64
	WorkingSetBytes           uint64
}

// ContainerUsages reads every running container's usage.
func (k *Kubelet) ContainerUsages() []ContainerUsage {
	var out []ContainerUsage
	for _, p := range k.runningPods() {
		for _, c := range runningContainers(p) {
			if u, err := readUsage(k.cgroups.containerPath(p, c.id)); err == nil {
				out = append(out, ContainerUsage{Namespace: p.Namespace, Pod: p.Name, Container: c.name, PodUID: p.UID,
					CPUSeconds: float64(u.cpuNanos) / 1e9, WorkingSetBytes: u.workingSet})
			}
		}
	}
	return out
}
