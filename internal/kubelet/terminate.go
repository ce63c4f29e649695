package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/mount"
)

// terminate carries out a graceful deletion (§9.3 upstream): stop every
// container within the grace period (regular containers in parallel,
// sidecars after them in reverse order, preStop hooks first), remove
// everything, write the final status, then delete the API object. A step
// that fails does not hold back the ones after it (removing the sandbox
// kills what stopping could not); the failure is reported as a Warning
// event and the worker retries with back-off until everything is gone,
// and only then is the object deleted.
//
// Upstream stops the sandbox, writes the final status and leaves the
// removal to its garbage collection; peapod removes the sandbox at once,
// which stops it and tears its network down while the containers and the
// pause are removed (RemovePodSandbox), and writes the final status from
// the containers' ends recorded before, with the sandbox not ready: the
// same status, out when nothing of the pod runs any more.
func (k *Kubelet) terminate(ctx context.Context, w *podWorker, pod *corev1.Pod) (bool, error) {
	rp, err := k.runtimePodStatus(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	var errs []error
	start := time.Now()
	if err := k.killContainers(w.waitContext(ctx), w, pod, rp, nil); w.interrupted() {
		// A shorter grace period, or the pod gone: kill again with it.
		return false, errInterrupted
	} else if err != nil {
		errs = append(errs, err)
	}
	k.log.Debug("containers killed", "pod", podRef(pod, pod.UID), "duration", time.Since(start))
	k.probes.RemovePod(pod.UID)
	if fresh, err := k.runtimePodStatus(ctx, pod.UID); err == nil {
		rp = fresh
	}
	k.cfg.Failpoints.Hit("kubelet-teardown")
	start = time.Now()
	errs = append(errs, k.teardownPod(ctx, pod.UID, rp))
	k.log.Debug("pod torn down", "pod", podRef(pod, pod.UID), "duration", time.Since(start))
	for _, sb := range rp.sandboxes {
		sb.State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	}
	if err := k.updateStatus(ctx, w, pod, rp, true); err != nil {
		errs = append(errs, fmt.Errorf("writing final status: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		k.cfg.Recorder.Eventf(pod, "", events.Warning, reasonFailedKillPod, "error killing pod: %v", err)
		return false, err
	}
	if k.isStatic(pod.UID) {
		// A static pod has no API object of its own; its mirror goes.
		if err := k.removeStatic(ctx, pod); err != nil {
			return false, err
		}
		k.forgetStatus(pod.UID)
		return true, nil
	}
	k.cfg.Failpoints.Hit("kubelet-delete")
	zero := int64(0)
	_, _, err = k.cfg.Pods.Delete(ctx, pod.Namespace, pod.Name, &metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	}, false)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, fmt.Errorf("deleting pod object: %w", err)
	}
	k.forgetStatus(pod.UID)
	return true, nil
}

// reasonFailedKillPod is events.FailedToKillPod of pkg/kubelet/events.
const reasonFailedKillPod = "FailedKillPod"

// teardownPod removes everything of the pod on the node: its sandboxes
// (and with them their containers), containers left without one, its
// cgroup with whatever still runs in it, its kubelet directory and its log
// directory. Every part is attempted; the errors are joined.
func (k *Kubelet) teardownPod(ctx context.Context, uid types.UID, rp *runtimePod) error {
	var errs []error
	for _, sb := range rp.sandboxes {
		err := k.cfg.Failpoints.Fail("kubelet-remove-sandbox")
		if err == nil {
			_, err = k.cfg.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id})
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range rp.containers {
		if _, err := k.cfg.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	// Volumes' tmpfs mounts go before the directory holding them.
	k.tokens.forget(uid)
	errs = append(errs, k.cgroups.destroyPod(uid), mount.UnmountUnder(k.podDir(uid)), os.RemoveAll(k.podDir(uid)))
	k.updateBurstable(uid)
	// <ns>_<name>_<uid>: the UID alone finds it, also for a pod that is
	// gone from the API.
	logDirs, _ := filepath.Glob(filepath.Join(k.cfg.LogDir, "*_"+string(uid)))
	for _, d := range logDirs {
		errs = append(errs, os.RemoveAll(d))
	}
	return errors.Join(errs...)
}

// adoptOrphans wakes a worker for every pod the runtime has sandboxes of, so
// sandboxes of pods deleted while peapod was down are cleaned up.
func (k *Kubelet) adoptOrphans(ctx context.Context) error {
	resp, err := k.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	for _, sb := range resp.GetItems() {
		if uid := sb.GetMetadata().GetUid(); uid != "" {
			k.wake(ctx, types.UID(uid))
		}
	}
	return nil
}

// sweepPodCgroups removes the cgroups of pods that are not in the API, not
// being worked on and unknown to the runtime, with whatever still runs in
// them (cleanupOrphanedPodCgroups upstream): what a crash between making a
// pod's cgroup and its sandbox leaves behind.
func (k *Kubelet) sweepPodCgroups(ctx context.Context) {
	// Listed first: a pod is known before its worker makes its cgroup.
	found := k.cgroups.podCgroupUIDs()
	if len(found) == 0 {
		return
	}
	known := map[types.UID]bool{}
	k.mu.Lock()
	for uid := range k.pods {
		known[uid] = true
	}
	for uid := range k.workers {
		known[uid] = true
	}
	k.mu.Unlock()
	resp, err := k.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		k.log.Warn("listing sandboxes for orphaned pod cgroups", "err", err)
		return
	}
	for _, sb := range resp.GetItems() {
		known[types.UID(sb.GetMetadata().GetUid())] = true
	}
	for uid := range found {
		if known[uid] {
			continue
		}
		if err := k.cgroups.destroyPod(uid); err != nil {
			k.log.Warn("removing orphaned pod cgroup", "uid", uid, "err", err)
			continue
		}
		k.log.Info("removed orphaned pod cgroup", "uid", uid)
	}
}
