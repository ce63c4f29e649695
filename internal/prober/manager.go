package prober

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Config wires a Manager.
type Config struct {
	// Runtime runs exec probes.
	Runtime  Execer
	Recorder Recorder
	// Status returns the pod's latest status as the kubelet generated it
	// (with the probe results applied): the container IDs, states and
	// started flags the workers go by.
	Status func(types.UID) (*corev1.PodStatus, bool)
	// OnChange is called when a published result changes, so the kubelet
	// syncs the pod (kills a container that failed liveness, flips
	// readiness).
	OnChange func(types.UID)
	// UserAgent is the probes' HTTP and gRPC user agent,
	// "kube-probe/<major>.<minor>".
	UserAgent string
	Clock     clock.WithTicker
	Log       *slog.Logger
}

// Recorder records events (*events.Recorder).
type Recorder interface {
	Eventf(obj runtime.Object, fieldPath, eventType, reason, format string, args ...any)
}

// Manager runs the probe workers of every pod and holds their results
// (prober_manager.go upstream).
type Manager struct {
	cfg    Config
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pods    map[types.UID]*corev1.Pod
	workers map[workerKey]*worker
	// results are the published results by kind and container ID
	// ("peapod://<id>").
	results [3]map[string]Result
}

type workerKey struct {
	uid       types.UID
	container string
	kind      Kind
}

// NewManager returns a Manager; its workers run until Stop.
func NewManager(cfg Config) *Manager {
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, ctx: ctx, cancel: cancel, start: cfg.Clock.Now(), pods: map[types.UID]*corev1.Pod{}, workers: map[workerKey]*worker{}}
	for i := range m.results {
		m.results[i] = map[string]Result{}
	}
	return m
}

// Stop stops every worker and waits for them to end.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.cancel()
	m.mu.Unlock()
	m.wg.Wait()
}

// AddPod starts a worker for each probe of the pod's containers and
// sidecars that has none, and makes pod the version workers look at
// (its deletion timestamp stops liveness and startup probing).
func (m *Manager) AddPod(pod *corev1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return // stopped
	}
	m.pods[pod.UID] = pod
	add := func(c *corev1.Container, fieldPath string, sidecar bool) {
		for _, p := range []struct {
			kind Kind
			spec *corev1.Probe
		}{{Startup, c.StartupProbe}, {Readiness, c.ReadinessProbe}, {Liveness, c.LivenessProbe}} {
			if p.spec == nil {
				continue
			}
			key := workerKey{pod.UID, c.Name, p.kind}
			if _, ok := m.workers[key]; ok {
				continue
			}
			w := newWorker(m, key, p.spec, c, fieldPath, sidecar, pod.Spec.RestartPolicy)
			m.workers[key] = w
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				w.run(m.ctx)
			}()
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if IsSidecar(c) {
			add(c, "spec.initContainers{"+c.Name+"}", true)
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		add(c, "spec.containers{"+c.Name+"}", false)
	}
}

// RemovePod stops the pod's workers and forgets their results.
func (m *Manager) RemovePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pods, uid)
	for key, w := range m.workers {
		if key.uid == uid {
			w.stop()
		}
	}
}

// Result returns the published result of kind for a container.
func (m *Manager) Result(kind Kind, containerID string) (Result, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.results[kind][containerID]
	return r, ok
}

// set publishes a result and tells the kubelet when it changed.
func (m *Manager) set(kind Kind, uid types.UID, containerID string, r Result) {
	m.mu.Lock()
	prev, ok := m.results[kind][containerID]
	m.results[kind][containerID] = r
	m.mu.Unlock()
	if (!ok || prev != r) && m.cfg.OnChange != nil {
		m.cfg.OnChange(uid)
	}
}

func (m *Manager) forget(kind Kind, containerID string) {
	m.mu.Lock()
	delete(m.results[kind], containerID)
	m.mu.Unlock()
}

func (m *Manager) pod(uid types.UID) *corev1.Pod {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pods[uid]
}

// removeWorker drops a worker that ended, unless another took its place.
func (m *Manager) removeWorker(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.workers[w.key] == w {
		delete(m.workers, w.key)
	}
}

func (m *Manager) hasWorker(uid types.UID, container string, kind Kind) (*worker, bool) {
	w, ok := m.workers[workerKey{uid, container, kind}]
	return w, ok
}

// UpdatePodStatus sets started and ready on the pod's container statuses
// from the probe results (UpdatePodStatus upstream): a running container
// is started once its startup probe succeeded (at once without one), and
// ready once started and its readiness probe succeeded (at once without
// one); a regular init container is ready once it exited 0.
func (m *Manager) UpdatePodStatus(pod *corev1.Pod, st *corev1.PodStatus) {
	m.mu.Lock()
	defer m.mu.Unlock()
	update := func(cs *corev1.ContainerStatus) {
		started := m.started(pod.UID, cs)
		cs.Started = &started
		if !started {
			cs.Ready = false
			return
		}
		ready := false
		if r, ok := m.results[Readiness][cs.ContainerID]; ok && r == Success {
			ready = true
		} else if w, ok := m.hasWorker(pod.UID, cs.Name, Readiness); ok {
			// Not ready yet: probe again now rather than at the next
			// tick.
			w.trigger()
		} else {
			ready = true
		}
		cs.Ready = ready
	}
	for i := range st.ContainerStatuses {
		update(&st.ContainerStatuses[i])
	}
	sidecars := map[string]bool{}
	for i := range pod.Spec.InitContainers {
		if IsSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
		}
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if sidecars[cs.Name] {
			update(cs)
			continue
		}
		started := m.started(pod.UID, cs)
		cs.Started = &started
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
	}
}

// started is isContainerStarted; callers hold m.mu.
func (m *Manager) started(uid types.UID, cs *corev1.ContainerStatus) bool {
	if cs.State.Running == nil {
		return false
	}
	if r, ok := m.results[Startup][cs.ContainerID]; ok {
		return r == Success
	}
	_, probing := m.hasWorker(uid, cs.Name, Startup)
	return !probing
}

// IsSidecar reports whether an init container is a sidecar (restartPolicy
// Always).
func IsSidecar(c *corev1.Container) bool {
	return c != nil && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// runtimeID strips the "<runtime>://" prefix of a status's container ID.
func runtimeID(containerID string) string {
	if _, id, ok := strings.Cut(containerID, "://"); ok {
		return id
	}
	return containerID
}
