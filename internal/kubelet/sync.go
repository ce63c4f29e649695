package kubelet

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
)

// syncPod brings the runtime in line with pod and reports status. It
// returns done when the pod is gone for good and the worker may retire.
func (k *Kubelet) syncPod(ctx context.Context, w *podWorker, pod *corev1.Pod) (done bool, err error) {
	switch {
	case pod == nil:
		return k.cleanupRemoved(ctx, w.uid)
	case pod.DeletionTimestamp != nil:
		return k.terminate(ctx, w, pod)
	}
	rp, err := k.runtimePodStatus(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		// Finished pods keep their object until deleted; their sandbox
		// is stopped so nothing keeps running (an evicted pod's
		// containers are killed here), and the status shows it.
		stopErr := k.stopPod(ctx, pod, rp, 0)
		if rp, err = k.runtimePodStatus(ctx, pod.UID); err != nil {
			return false, errors.Join(stopErr, err)
		}
		return false, errors.Join(stopErr, k.updateStatus(ctx, w, pod, rp, true))
	}
	if len(rp.sandboxes) == 0 && pod.Status.Phase != corev1.PodRunning {
		// Admission (canAdmitPod upstream), before anything runs.
		if msg := k.sysctls.check(pod); msg != "" {
			return false, k.rejectPod(ctx, pod, reasonSysctlForbidden, msg)
		}
	}
	syncErr := k.syncRunning(ctx, w, pod, rp)
	if rp, err = k.runtimePodStatus(ctx, pod.UID); err != nil {
		return false, errors.Join(syncErr, err)
	}
	start := time.Now()
	if err := k.updateStatus(ctx, w, pod, rp, false); err != nil {
		return false, errors.Join(syncErr, err)
	}
	k.log.Debug("status updated", "pod", podRef(pod, pod.UID), "duration", time.Since(start))
	return false, syncErr
}

// syncRunning is computePodActions plus SyncPod for a live pod: make sure a
// ready sandbox exists (killing and replacing one that died), then start
// every container that should run.
func (k *Kubelet) syncRunning(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod) error {
	sb := rp.readySandbox()
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
	if sb != nil {
		if err := volumes(); err != nil {
			return err
		}
	}
	var sbCfg *runtimeapi.PodSandboxConfig
	if sb == nil {
		if len(rp.sandboxes) > 0 {
			// The sandbox died (pause exited): kill what is left of the
			// pod and start over in a new one, unless nothing would
			// run in it.
			if err := k.stopPod(ctx, pod, rp, 0); err != nil {
				return err
			}
			fresh, err := k.runtimePodStatus(ctx, pod.UID)
			if err != nil {
				return err
			}
			rp = fresh
			if podFinished(pod, rp) {
				return nil // the phase turns terminal; no new sandbox
			}
			k.cfg.Recorder.Eventf(pod, "", events.Normal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
		}
		k.reportMissingPullSecrets(ctx, pod)
		start := time.Now()
		volErr := make(chan error, 1)
		go func() { volErr <- volumes() }()
		id, cfg, err := k.createSandbox(ctx, w, pod)
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
	} else {
		cfg, err := k.sandboxConfig(w, pod, sb.GetMetadata().GetAttempt())
		if err != nil {
			return err
		}
		sbCfg = cfg
	}
	podIPs := sandboxIPs(sb)
	var errs []error
	for _, c := range k.containersToStart(w, pod, rp) {
		restarts := int32(0)
		if inst := rp.instances(c.Name); len(inst) > 0 {
			restarts = restartCount(inst[0]) + 1
		}
		start := time.Now()
		if err := k.startContainer(ctx, w, pod, &c, sb.Id, sbCfg, podIPs, restarts); err != nil {
			errs = append(errs, err)
			continue
		}
		k.log.Debug("container started", "pod", podRef(pod, pod.UID), "container", c.Name, "duration", time.Since(start))
	}
	k.pruneContainers(ctx, rp)
	return errors.Join(errs...)
}

// shouldRestart is ShouldContainerBeRestarted for a container whose newest
// instance is cur (nil: never created).
func shouldRestart(pod *corev1.Pod, cur *runtimeapi.ContainerStatus) bool {
	switch {
	case cur == nil:
		return true
	case cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		return false
	case cur.State == runtimeapi.ContainerState_CONTAINER_CREATED:
		return true // created but never started (a start that failed)
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return cur.ExitCode != 0
	}
	return true
}

// podFinished reports whether no container runs or would be started.
func podFinished(pod *corev1.Pod, rp *runtimePod) bool {
	for i := range pod.Spec.Containers {
		var cur *runtimeapi.ContainerStatus
		if inst := rp.instances(pod.Spec.Containers[i].Name); len(inst) > 0 {
			cur = inst[0]
		}
		if cur == nil || cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING || shouldRestart(pod, cur) {
			return false
		}
	}
	return true
}

// containersToStart decides, per spec container, whether to (re)start it
// now: ShouldContainerBeRestarted plus the CrashLoopBackOff check, which
// records the back-off and its waiting reason.
func (k *Kubelet) containersToStart(w *podWorker, pod *corev1.Pod, rp *runtimePod) []corev1.Container {
	var out []corev1.Container
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		var cur *runtimeapi.ContainerStatus
		if inst := rp.instances(c.Name); len(inst) > 0 {
			cur = inst[0]
		}
		if !shouldRestart(pod, cur) {
			continue
		}
		if cur == nil || cur.State != runtimeapi.ContainerState_CONTAINER_EXITED {
			out = append(out, *c)
			continue
		}
		finished := time.Unix(0, cur.FinishedAt)
		key := backoffKey(pod, c)
		if k.backoff.IsInBackOffSince(key, finished) {
			delay := k.backoff.Get(key)
			msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID)
			w.reasons[c.Name] = waitingReason{reasonCrashLoopBackOff, msg}
			k.cfg.Recorder.Eventf(pod, fmt.Sprintf("spec.containers{%s}", c.Name), events.Warning, "BackOff",
				"Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			w.retryAfter(time.Until(finished.Add(delay)))
			continue
		}
		k.backoff.Next(key, finished)
		out = append(out, *c)
	}
	return out
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
			if _, err := k.cfg.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
				k.log.Warn("removing old container", "container", c.Id, "err", err)
			}
		}
	}
}

// cleanupRemoved handles a pod that is gone from the API (force deletion):
// stop and remove whatever the node still has of it, cgroup and files
// included even when the runtime knows nothing of the pod.
func (k *Kubelet) cleanupRemoved(ctx context.Context, uid types.UID) (bool, error) {
	rp, err := k.runtimePodStatus(ctx, uid)
	if err != nil {
		return false, err
	}
	var errs []error
	if len(rp.sandboxes) > 0 || len(rp.containers) > 0 {
		if err := k.stopPod(ctx, nil, rp, minGracePeriod); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, k.teardownPod(ctx, uid, rp))
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	return true, nil
}
