package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/prober"
)

// minGracePeriod is minimumGracePeriodInSeconds: a container always gets at
// least 2 s between its stop signal and SIGKILL.
const minGracePeriod = 2

// Event reasons of pkg/kubelet/events.
const (
	reasonKilling             = "Killing"
	reasonFailedPreStopHook   = "FailedPreStopHook"
	reasonFailedPostStartHook = "FailedPostStartHook"
)

// killContainer stops one container as kuberuntime's killContainer does:
// a Killing event, then the preStop hook, given at most the grace period,
// whose time comes off it; then, for a sidecar, its turn (all regular
// containers and later sidecars gone), also within the grace; then the
// stop signal with what is left of the grace, at least 2 s, after which
// the runtime kills it. The grace is the pod's deletion grace period, else
// a failing probe's own, else the pod's terminationGracePeriodSeconds;
// override replaces it (evictions, removed pods). pod is nil for a pod
// gone from the API without a trace: no events, no hook.
func (k *Kubelet) killContainer(ctx context.Context, pod *corev1.Pod, t killTarget, override *int64, turn <-chan struct{}) error {
	grace := int64(minGracePeriod)
	if pod != nil {
		switch {
		case pod.DeletionGracePeriodSeconds != nil:
			grace = *pod.DeletionGracePeriodSeconds
		case pod.Spec.TerminationGracePeriodSeconds != nil:
			grace = *pod.Spec.TerminationGracePeriodSeconds
			if t.probe != nil && t.probe.TerminationGracePeriodSeconds != nil {
				grace = *t.probe.TerminationGracePeriodSeconds
			}
		}
		message := t.message
		if message == "" {
			message = "Stopping container " + t.spec.Name
		}
		k.cfg.Recorder.Eventf(pod, t.fieldPath, events.Normal, reasonKilling, "%s", message)
	}
	if override != nil {
		grace = *override
	}
	if pod != nil && t.spec.Lifecycle != nil && t.spec.Lifecycle.PreStop != nil && grace > 0 && !t.skipPreStop {
		grace -= k.runPreStop(ctx, pod, t, grace)
	}
	if turn != nil && grace > 0 {
		start := time.Now()
		select {
		case <-turn:
		case <-time.After(time.Duration(grace) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		grace -= int64(time.Since(start).Seconds())
	}
	grace = max(grace, minGracePeriod)
	_, err := k.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: t.id, Timeout: grace})
	if errors.Is(err, errdefs.ErrNotFound) {
		return nil
	}
	return err
}

// runPreStop runs the container's preStop hook for at most grace seconds
// (executePreStopHook) and returns the whole seconds it took. A hook still
// running then is given up on (and its command killed); a failure is a
// FailedPreStopHook event with upstream's fixed text (the details, which
// may hold secrets, go to the log only).
func (k *Kubelet) runPreStop(ctx context.Context, pod *corev1.Pod, t killTarget, grace int64) int64 {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		msg, err := k.runHook(hctx, pod, t.spec, t.id, t.spec.Lifecycle.PreStop, k.podIP(pod))
		if err != nil {
			k.log.Info("preStop hook failed", "pod", podRef(pod, pod.UID), "container", t.spec.Name, "err", msg)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil && hctx.Err() == nil {
			k.cfg.Recorder.Eventf(pod, t.fieldPath, events.Warning, reasonFailedPreStopHook, "PreStopHook failed")
		}
	case <-hctx.Done():
		k.log.Info("preStop hook did not finish within the grace period", "pod", podRef(pod, pod.UID), "container", t.spec.Name, "grace", grace)
	}
	return int64(time.Since(start).Seconds())
}

// podIP is the pod's IP as last reported, for hooks.
func (k *Kubelet) podIP(pod *corev1.Pod) string {
	if st, ok := k.podStatus(pod.UID); ok && st.PodIP != "" {
		return st.PodIP
	}
	return pod.Status.PodIP
}

// killContainers stops every running container of the pod (the first
// half of killPodWithSyncResult): regular containers in parallel; sidecars get
// their preStop hooks at once but their stop signal only after every
// regular container and every later sidecar is gone, so they stop in
// reverse order, last. pod is nil for a pod gone from the API.
func (k *Kubelet) killContainers(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod, override *int64) error {
	running := rp.running()
	type job struct {
		t       killTarget
		sidecar int // spec index of a sidecar, -1 otherwise
		done    chan struct{}
	}
	jobs := make([]*job, 0, len(running))
	for _, c := range running {
		name := c.GetLabels()[labelContainerName]
		j := &job{t: killTarget{id: c.Id, spec: &corev1.Container{Name: name}, fieldPath: containerFieldPath(name, false)}, sidecar: -1, done: make(chan struct{})}
		if pod != nil {
			if spec, init, idx := specOf(pod, name); spec != nil {
				j.t.spec, j.t.fieldPath = spec, containerFieldPath(name, init)
				if init && prober.IsSidecar(spec) {
					j.sidecar = idx
				}
			} else if spec := findContainer(pod, name); spec != nil {
				j.t.spec, j.t.fieldPath = spec, fieldPathOf(pod, name, false)
			}
		}
		j.t.skipPreStop = !w.preStopOnce(c.Id)
		jobs = append(jobs, j)
	}
	// regularGone closes once every non-sidecar's kill returned.
	regularGone := make(chan struct{})
	var regular sync.WaitGroup
	for _, j := range jobs {
		if j.sidecar < 0 {
			regular.Add(1)
		}
	}
	go func() { regular.Wait(); close(regularGone) }()
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, j := range jobs {
		var turn chan struct{}
		if j.sidecar >= 0 {
			turn = make(chan struct{})
			var later []chan struct{}
			for _, o := range jobs {
				if o.sidecar > j.sidecar {
					later = append(later, o.done)
				}
			}
			go func() {
				<-regularGone
				for _, d := range later {
					<-d
				}
				close(turn)
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(j.done)
			if j.sidecar < 0 {
				defer regular.Done()
			}
			if err := k.killContainer(ctx, pod, j.t, override, turn); err != nil {
				errs[i] = fmt.Errorf("killing container %s: %w", j.t.spec.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killPod kills the pod's containers (killContainers), then stops its
// sandboxes: every one, not only ready ones, since a dead sandbox may
// still hold its network attachment (IP, hostPort rules).
// StopPodSandbox is idempotent.
func (k *Kubelet) killPod(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod, override *int64) error {
	if override != nil {
		w.killsWith(*override)
	}
	errs := []error{k.killContainers(w.waitContext(ctx), w, pod, rp, override)}
	if w.interrupted() {
		return errInterrupted
	}
	for _, sb := range rp.sandboxes {
		if _, err := k.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// specOf finds a container's spec by name: whether it is an init container
// and its index in its list.
func specOf(pod *corev1.Pod, name string) (*corev1.Container, bool, int) {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i], true, i
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i], false, i
		}
	}
	return nil, false, -1
}
