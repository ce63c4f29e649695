package kubelet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/prober"
)

// syncPod brings the runtime in line with pod and reports status. It
// returns done when the pod is gone for good and the worker may retire.
func (k *Kubelet) syncPod(ctx context.Context, w *podWorker, pod *corev1.Pod) (done bool, err error) {
	switch {
	case pod == nil:
		return k.cleanupRemoved(ctx, w)
	case pod.DeletionTimestamp != nil:
		w.lastPod = pod
		k.probes.AddPod(pod) // liveness and startup probing stop
		return k.terminate(ctx, w, pod)
	}
	w.lastPod = pod
	static := k.isStatic(pod.UID)
	if static && k.staticPredecessor(pod) {
		// An older version of this static pod is still stopping.
		w.retryAfter(time.Second)
		return false, nil
	}
	rp, err := k.runtimePodStatus(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		err := k.syncFinished(ctx, w, pod, rp)
		if static {
			err = errors.Join(err, k.syncMirror(ctx, w, pod))
		}
		return false, err
	}
	if len(rp.sandboxes) == 0 && pod.Status.Phase != corev1.PodRunning && !k.admitted(pod) {
		// Admission (canAdmitPod upstream), before anything runs.
		if a := k.admitPod(ctx, pod); a != nil {
			return false, k.rejectPod(ctx, pod, a.reason, a.message)
		}
		k.warnSELinux(w, pod)
	}
	if pastActiveDeadline(pod, k.cfg.Now()) {
		// The pod fails (its status says DeadlineExceeded) and what runs
		// is stopped.
		k.cfg.Recorder.Eventf(pod, "", events.Normal, reasonDeadlineExceeded, messageDeadlineExceeded)
		failed := pod.DeepCopy()
		failed.Status.Phase, failed.Status.Reason, failed.Status.Message = corev1.PodFailed, reasonDeadlineExceeded, messageDeadlineExceeded
		return false, k.syncFinished(ctx, w, failed, rp)
	}
	k.probes.AddPod(pod)
	k.admitResize(pod)
	// As upstream, the status as things stand is reported before the
	// sync acts (a container that exited shows so, an init container's
	// failure shows as Init:Error, a new pod as ContainerCreating), while
	// the sync goes on.
	var before chan error
	if st := k.generateStatus(w, pod, rp, false); !apiequality.Semantic.DeepEqual(st, pod.Status) {
		snap := w.snapshot()
		before = make(chan error, 1)
		go func() { before <- k.updateStatus(ctx, snap, pod, rp, false) }()
	}
	// The containers run with what the kubelet allocated to them.
	allocated := k.allocatedPod(pod)
	syncErr := k.syncRunning(ctx, w, allocated, rp)
	if before != nil {
		syncErr = errors.Join(syncErr, <-before)
	}
	if rp, err = k.runtimePodStatus(ctx, pod.UID); err != nil {
		return false, errors.Join(syncErr, err)
	}
	if changed, err := k.actuateResize(ctx, allocated, rp); changed {
		syncErr = errors.Join(syncErr, err)
		if rp, err = k.runtimePodStatus(ctx, pod.UID); err != nil {
			return false, errors.Join(syncErr, err)
		}
	}
	start := time.Now()
	if err := k.updateStatus(ctx, w, pod, rp, false); err != nil {
		return false, errors.Join(syncErr, err)
	}
	k.log.Debug("status updated", "pod", podRef(pod, pod.UID), "duration", time.Since(start))
	if static {
		if err := k.syncMirror(ctx, w, pod); err != nil {
			k.log.Warn("failed creating a mirror pod", "pod", podRef(pod, pod.UID), "err", err)
		}
	}
	if st, ok := k.podStatus(pod.UID); ok && pod.Spec.ActiveDeadlineSeconds != nil {
		// Back when the deadline passes (the start time is the one just
		// reported).
		withStart := &corev1.Pod{Spec: pod.Spec, Status: corev1.PodStatus{StartTime: st.StartTime}}
		if at, ok := activeDeadline(withStart); ok {
			w.retryAfter(at.Sub(k.cfg.Now()))
		}
	}
	return false, syncErr
}

// syncFinished handles a pod whose phase is terminal: it keeps its object
// until deleted, but nothing of it runs any more (what still runs, such as
// an evicted pod's containers, those of a pod past its deadline or its
// sidecars, is stopped) and its status says so.
func (k *Kubelet) syncFinished(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod) error {
	var override *int64
	if pod.Status.Reason == reasonEvicted {
		zero := int64(0)
		override = &zero // hard eviction: no grace
	}
	killErr := k.killPod(ctx, w, pod, rp, override)
	k.probes.RemovePod(pod.UID)
	fresh, err := k.runtimePodStatus(ctx, pod.UID)
	if err != nil {
		return errors.Join(killErr, err)
	}
	return errors.Join(killErr, k.updateStatus(ctx, w, pod, fresh, true))
}

// syncRunning is SyncPod for a live pod: compute what to do
// (computePodActions), then kill what must go, make a new sandbox if
// needed, and start init containers and containers.
func (k *Kubelet) syncRunning(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod) error {
	a := computePodActions(pod, rp, k.probes)
	if a.killPod {
		if a.createSandbox && len(rp.sandboxes) > 0 {
			k.cfg.Recorder.Eventf(pod, "", events.Normal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		}
		if err := k.killPod(ctx, w, pod, rp, nil); err != nil {
			return err
		}
		if a.purgeInits {
			k.purgeInitContainers(ctx, pod, rp)
		}
		if !a.createSandbox {
			return nil
		}
	} else {
		for _, t := range a.toKill {
			if err := k.killContainer(w.waitContext(ctx), pod, t, nil, nil); w.interrupted() {
				return errInterrupted
			} else if err != nil {
				return fmt.Errorf("killing container %s: %w", t.spec.Name, err)
			}
		}
	}
	sb := rp.readySandbox()
	if a.createSandbox {
		sb = nil
	}
	// Volumes before containers (WaitForAttachAndMount upstream): a pod
	// whose volumes were never set up waits in ContainerCreating; a
	// running pod keeps the files it has when a refresh fails. A new
	// sandbox is made while the volumes are set up (upstream makes it
	// after): the two are independent, and the pod starts sooner.
	volumes := func() error {
		err := k.setUpVolumes(ctx, pod)
		if err == nil {
			w.volumesReady = true
		} else if sb == nil || !w.volumesReady {
			return fmt.Errorf("unmounted volumes: %w", err)
		}
		return nil
	}
	var sbCfg *runtimeapi.PodSandboxConfig
	if sb == nil {
		k.reportMissingPullSecrets(ctx, pod)
		start := time.Now()
		volErr := make(chan error, 1)
		go func() { volErr <- volumes() }()
		id, cfg, err := k.createSandbox(ctx, w, pod, rp)
		// Always joined: nothing of the pod may be set up behind a
		// teardown that follows.
		if verr := <-volErr; err == nil && verr != nil {
			return verr
		}
		if err != nil {
			return err
		}
		k.log.Debug("sandbox created", "pod", podRef(pod, pod.UID), "sandbox", id, "duration", time.Since(start))
		st, err := k.cfg.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
		if err != nil {
			return err
		}
		sb, sbCfg = st.GetStatus(), cfg
		if a.purgeInits || len(rp.sandboxes) == 0 {
			// What runs in the new sandbox is decided afresh.
			fresh, err := k.runtimePodStatus(ctx, pod.UID)
			if err != nil {
				return err
			}
			rp = fresh
		}
	} else {
		if err := volumes(); err != nil {
			return err
		}
		cfg, err := k.sandboxConfig(w, pod, sb.GetMetadata().GetAttempt())
		if err != nil {
			return err
		}
		sbCfg = cfg
	}
	target := startTarget{sandboxID: sb.Id, sandboxConfig: sbCfg, podIPs: sandboxIPs(sb)}
	var errs []error
	for _, i := range a.ephemeralToStart {
		if err := k.startEphemeral(ctx, w, pod, &pod.Spec.EphemeralContainers[i], rp, target); err != nil {
			errs = append(errs, err)
		}
	}
	for _, i := range a.initToStart {
		c := &pod.Spec.InitContainers[i]
		if err := k.startIfNotBackingOff(ctx, w, pod, c, true, rp, target); err != nil {
			if !prober.IsSidecar(c) {
				// A regular init container that cannot start holds up
				// everything after it.
				return errors.Join(append(errs, err)...)
			}
			errs = append(errs, err)
		}
	}
	errs = append(errs, k.startRegular(ctx, w, pod, a.toStart, rp, target)...)
	if !w.quotaSet {
		if err := k.cgroups.setPodQuota(pod); err != nil {
			errs = append(errs, fmt.Errorf("setting the pod's CPU quota: %w", err))
		} else {
			w.quotaSet = true
		}
	}
	k.pruneContainers(ctx, rp)
	return errors.Join(errs...)
}

// startRegular starts the regular containers of toStart. Where the spec
// allows, all at once: the runtime's work on each (image, root file
// system, conmon and runc) is mostly waiting, so a pod of n containers
// starts in about the time of one. A postStart hook holds up the
// containers after it (upstream starts them in order and runs each hook
// before the next container), so a pod with one starts them in order, as
// the kubelet does. The events of parallel starts interleave.
func (k *Kubelet) startRegular(ctx context.Context, w *podWorker, pod *corev1.Pod, toStart []int, rp *runtimePod, t startTarget) []error {
	errs := make([]error, len(toStart))
	if len(toStart) < 2 || anyPostStart(pod, toStart) {
		for j, i := range toStart {
			errs[j] = k.startIfNotBackingOff(ctx, w, pod, &pod.Spec.Containers[i], false, rp, t)
		}
		return errs
	}
	var wg sync.WaitGroup
	for j, i := range toStart {
		wg.Go(func() { errs[j] = k.startIfNotBackingOff(ctx, w, pod, &pod.Spec.Containers[i], false, rp, t) })
	}
	wg.Wait()
	return errs
}

// anyPostStart reports whether one of the containers has a postStart hook.
func anyPostStart(pod *corev1.Pod, idx []int) bool {
	for _, i := range idx {
		if l := pod.Spec.Containers[i].Lifecycle; l != nil && l.PostStart != nil {
			return true
		}
	}
	return false
}

// startTarget is the sandbox containers are started in.
type startTarget struct {
	sandboxID     string
	sandboxConfig *runtimeapi.PodSandboxConfig
	podIPs        []string
	// pidTarget is the runtime ID of the container whose PID namespace
	// an ephemeral container joins (its targetContainerName).
	pidTarget string
}

// startEphemeral starts an ephemeral container, once: it joins the pod's
// namespaces and, with targetContainerName, the PID namespace of that
// container (getTargetID upstream).
func (k *Kubelet) startEphemeral(ctx context.Context, w *podWorker, pod *corev1.Pod, ec *corev1.EphemeralContainer, rp *runtimePod, t startTarget) error {
	c := (*corev1.Container)(&ec.EphemeralContainerCommon)
	if name := ec.TargetContainerName; name != "" {
		target := rp.latest(name)
		if target == nil {
			msg := fmt.Sprintf("unable to find target container %s", name)
			w.setReason(c.Name, waitingReason{reasonCreateConfigError, msg})
			k.cfg.Recorder.Eventf(pod, fieldPathOf(pod, c.Name, false), events.Warning, "Failed", "Error: %s", msg)
			return errors.New(msg)
		}
		t.pidTarget = target.Id
	}
	start := time.Now()
	if err := k.startContainer(ctx, w, pod, c, false, t, 0); err != nil {
		return err
	}
	k.log.Debug("ephemeral container started", "pod", podRef(pod, pod.UID), "container", c.Name, "duration", time.Since(start))
	return nil
}

// startIfNotBackingOff starts a container unless its last instance
// exited too recently (doBackOff upstream): then it waits in
// CrashLoopBackOff, and the worker comes back when the back-off ends.
func (k *Kubelet) startIfNotBackingOff(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, init bool, rp *runtimePod, t startTarget) error {
	cur := rp.latest(c.Name)
	if cur != nil && cur.State == runtimeapi.ContainerState_CONTAINER_EXITED {
		finished := time.Unix(0, cur.FinishedAt)
		key := backoffKey(pod, c)
		if k.backoff.IsInBackOffSince(key, finished) {
			delay := k.backoff.Get(key)
			msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay, c.Name, formatPod(pod))
			w.setReason(c.Name, waitingReason{reasonCrashLoopBackOff, msg})
			k.cfg.Recorder.Eventf(pod, containerFieldPath(c.Name, init), events.Warning, "BackOff",
				"Back-off restarting failed container %s in pod %s", c.Name, formatPod(pod))
			w.retryAfter(finished.Add(delay).Sub(k.cfg.Now()))
			return nil
		}
		k.backoff.Next(key, finished)
	}
	restarts := int32(0)
	if cur != nil {
		restarts = restartCount(cur) + 1
	}
	start := time.Now()
	if err := k.startContainer(ctx, w, pod, c, init, t, restarts); err != nil {
		return err
	}
	k.log.Debug("container started", "pod", podRef(pod, pod.UID), "container", c.Name, "duration", time.Since(start))
	return nil
}

// purgeInitContainers removes every instance of every init container
// (purgeInitContainers upstream), so that a new sandbox initializes anew.
func (k *Kubelet) purgeInitContainers(ctx context.Context, pod *corev1.Pod, rp *runtimePod) {
	for i := range pod.Spec.InitContainers {
		for _, c := range rp.instances(pod.Spec.InitContainers[i].Name) {
			if err := k.removeContainer(ctx, c); err != nil {
				k.log.Warn("removing init container", "container", c.Id, "err", err)
			}
		}
	}
}

// backoffKey is getStableKey: the pod identity plus a hash of the
// container spec.
func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return fmt.Sprintf("%s_%s_%s_%s_%s", pod.Name, pod.Namespace, pod.UID, c.Name, containerHash(c))
}

func sandboxIPs(sb *runtimeapi.PodSandboxStatus) []string {
	var ips []string
	if ip := sb.GetNetwork().GetIp(); ip != "" {
		ips = append(ips, ip)
	}
	for _, ip := range sb.GetNetwork().GetAdditionalIps() {
		ips = append(ips, ip.GetIp())
	}
	return ips
}

// pruneContainers removes exited instances beyond the two newest per
// container name (what status and `logs --previous` need), and instances
// created but never started that a newer one replaced (a start cut short,
// by a crash for one).
func (k *Kubelet) pruneContainers(ctx context.Context, rp *runtimePod) {
	seen := map[string]int{}
	for _, c := range rp.containers {
		name := c.GetLabels()[labelContainerName]
		seen[name]++
		stale := (seen[name] > 2 && c.State == runtimeapi.ContainerState_CONTAINER_EXITED) ||
			(seen[name] > 1 && c.State == runtimeapi.ContainerState_CONTAINER_CREATED)
		if stale {
			if err := k.removeContainer(ctx, c); err != nil {
				k.log.Warn("removing old container", "container", c.Id, "err", err)
			}
		}
	}
}

// cleanupRemoved handles a pod that is gone from the API (force deletion):
// stop and remove whatever the node still has of it, cgroup and files
// included even when the runtime knows nothing of the pod. The containers
// get the minimum grace period, as for a force deletion upstream.
func (k *Kubelet) cleanupRemoved(ctx context.Context, w *podWorker) (bool, error) {
	uid := w.uid
	k.probes.RemovePod(uid)
	rp, err := k.runtimePodStatus(ctx, uid)
	if err != nil {
		return false, err
	}
	var errs []error
	if len(rp.sandboxes) > 0 || len(rp.containers) > 0 {
		zero := int64(0)
		pod := w.lastPod
		if pod != nil && pod.UID != uid {
			pod = nil
		}
		if err := k.killPod(ctx, w, pod, rp, &zero); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, k.teardownPod(ctx, uid, rp))
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	k.forgetStatus(uid)
	return true, nil
}

// forgetStatus drops what the kubelet keeps of a pod that is gone: its
// last generated status, its resize and its admission.
func (k *Kubelet) forgetStatus(uid types.UID) {
	k.mu.Lock()
	delete(k.statuses, uid)
	delete(k.resizes, uid)
	delete(k.admittedPods, uid)
	k.mu.Unlock()
}
