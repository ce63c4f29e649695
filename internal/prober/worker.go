package prober

import (
	"context"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// worker probes one container with one probe on its period, for as long as
// the pod lives (worker.go upstream).
type worker struct {
	m         *Manager
	key       workerKey
	spec      *corev1.Probe
	container *corev1.Container
	fieldPath string
	// sidecar containers are restarted whatever the pod's restart policy.
	sidecar       bool
	restartPolicy corev1.RestartPolicy
	initial       Result

	stopCh    chan struct{}
	triggerCh chan struct{}

	// Owned by the worker's goroutine:
	containerID string // the container instance probed
	lastResult  Result
	resultRun   int  // how often lastResult came in a row
	onHold      bool // no probing until a new container instance
}

func newWorker(m *Manager, key workerKey, spec *corev1.Probe, c *corev1.Container, fieldPath string, sidecar bool, policy corev1.RestartPolicy) *worker {
	w := &worker{m: m, key: key, spec: spec, container: c, fieldPath: fieldPath, sidecar: sidecar, restartPolicy: policy,
		stopCh: make(chan struct{}, 1), triggerCh: make(chan struct{}, 1)}
	// What a new container instance starts with: not ready, alive, not
	// known to have started.
	switch key.kind {
	case Readiness:
		w.initial = Failure
	case Liveness:
		w.initial = Success
	default:
		w.initial = Unknown
	}
	return w
}

func (w *worker) stop() {
	select {
	case w.stopCh <- struct{}{}:
	default:
	}
}

// trigger asks for a probe now.
func (w *worker) trigger() {
	select {
	case w.triggerCh <- struct{}{}:
	default:
	}
}

func (w *worker) run(ctx context.Context) {
	clk := w.m.cfg.Clock
	period := time.Duration(w.spec.PeriodSeconds) * time.Second
	defer func() {
		if w.containerID != "" {
			w.m.forget(w.key.kind, w.containerID)
		}
		w.m.removeWorker(w)
	}()
	// Right after a kubelet start, spread the workers over a period
	// instead of probing everything at once.
	if period > clk.Since(w.m.start) {
		select {
		case <-clk.After(time.Duration(rand.Float64() * float64(period))):
		case <-w.stopCh:
			return
		case <-ctx.Done():
			return
		}
	}
	ticker := clk.NewTicker(period)
	defer ticker.Stop()
	for w.doProbe(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-w.stopCh:
			return
		case <-ticker.C():
		case <-w.triggerCh:
		}
	}
}

// doProbe probes once if the container is in a state to be probed, and
// publishes the result once it came often enough in a row. It returns
// whether the worker should go on.
func (w *worker) doProbe(ctx context.Context) bool {
	m := w.m
	pod := m.pod(w.key.uid)
	st, ok := m.cfg.Status(w.key.uid)
	if pod == nil || !ok {
		return true // not synced yet, or being removed
	}
	if st.Phase == corev1.PodFailed || st.Phase == corev1.PodSucceeded {
		return false
	}
	cs := containerStatus(st, w.key.container)
	if cs == nil || cs.ContainerID == "" {
		return true // not created yet
	}
	if cs.ContainerID != w.containerID {
		if w.containerID != "" {
			m.forget(w.key.kind, w.containerID)
		}
		w.containerID, w.onHold, w.resultRun = cs.ContainerID, false, 0
		m.set(w.key.kind, w.key.uid, w.containerID, w.initial)
	}
	if w.onHold {
		return true
	}
	if cs.State.Running == nil {
		m.set(w.key.kind, w.key.uid, w.containerID, Failure)
		// Nothing more to probe once it ended for good.
		return cs.State.Terminated == nil || w.restartPolicy != corev1.RestartPolicyNever || w.sidecar
	}
	if pod.DeletionTimestamp != nil && (w.key.kind == Liveness || w.key.kind == Startup) {
		// A pod being deleted is not restarted: quiet success.
		m.set(w.key.kind, w.key.uid, w.containerID, Success)
		return false
	}
	if int32(m.cfg.Clock.Since(cs.State.Running.StartedAt.Time).Seconds()) < w.spec.InitialDelaySeconds {
		return true
	}
	started := cs.Started != nil && *cs.Started
	if started == (w.key.kind == Startup) {
		// Startup probes run until the container started; the others
		// only after.
		return true
	}
	result, err := m.probe(ctx, w.key.kind, w.spec, target{
		pod: pod, container: w.container, containerID: runtimeID(w.containerID), podIP: st.PodIP, fieldPath: w.fieldPath,
	})
	if err != nil {
		return true // an error's result is thrown away
	}
	if result == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = result, 1
	}
	if (result == Failure && w.resultRun < int(w.spec.FailureThreshold)) ||
		(result == Success && w.resultRun < int(w.spec.SuccessThreshold)) {
		return true
	}
	m.set(w.key.kind, w.key.uid, w.containerID, result)
	if (w.key.kind == Liveness || w.key.kind == Startup) && result == Failure {
		// The container will be killed: wait for its next instance.
		w.onHold, w.resultRun = true, 0
	}
	return true
}

func containerStatus(st *corev1.PodStatus, name string) *corev1.ContainerStatus {
	for i := range st.ContainerStatuses {
		if st.ContainerStatuses[i].Name == name {
			return &st.ContainerStatuses[i]
		}
	}
	for i := range st.InitContainerStatuses {
		if st.InitContainerStatuses[i].Name == name {
			return &st.InitContainerStatuses[i]
		}
	}
	return nil
}
