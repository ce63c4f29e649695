package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
)

// minGracePeriod is minimumGracePeriodInSeconds: a container always gets at
// least 2 s between SIGTERM and SIGKILL.
const minGracePeriod = 2

// terminate carries out a graceful deletion (§9.3 upstream): stop every
// container in parallel within the grace period, stop the sandbox, write
// the final status, remove everything, then delete the API object.
func (k *Kubelet) terminate(ctx context.Context, w *podWorker, pod *corev1.Pod) (bool, error) {
	rp, err := k.runtimePodStatus(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		grace = *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if err := k.stopPod(ctx, pod, rp, grace); err != nil {
		return false, err
	}
	if rp, err = k.runtimePodStatus(ctx, pod.UID); err != nil {
		return false, err
	}
	if err := k.updateStatus(ctx, w, pod, rp, true); err != nil {
		return false, fmt.Errorf("writing final status: %w", err)
	}
	if err := k.removePod(ctx, pod.UID, rp); err != nil {
		return false, err
	}
	logDir := k.podLogDir(pod.Namespace, pod.Name, pod.UID)
	if err := k.removePodFiles(pod.UID, &logDir); err != nil {
		return false, err
	}
	zero := int64(0)
	_, _, err = k.cfg.Pods.Delete(ctx, pod.Namespace, pod.Name, &metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID},
	}, false)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return false, fmt.Errorf("deleting pod object: %w", err)
	}
	return true, nil
}

// stopPod stops every running container in parallel (grace 0 means the
// minimum), then every sandbox of the pod. pod may be nil for a pod that is
// gone from the API.
func (k *Kubelet) stopPod(ctx context.Context, pod *corev1.Pod, rp *runtimePod, grace int64) error {
	grace = max(grace, minGracePeriod)
	var wg sync.WaitGroup
	errs := make([]error, len(rp.containers))
	for i, c := range rp.running() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if pod != nil {
				name := c.GetLabels()[labelContainerName]
				k.cfg.Recorder.Eventf(pod, fmt.Sprintf("spec.containers{%s}", name), events.Normal, "Killing", "Stopping container %s", name)
			}
			_, errs[i] = k.cfg.Runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.Id, Timeout: grace})
		}()
	}
	wg.Wait()
	// Every sandbox, not only ready ones: a dead sandbox may still hold
	// its network attachment (IP, hostPort rules). StopPodSandbox is
	// idempotent.
	for _, sb := range rp.sandboxes {
		if _, err := k.cfg.Runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removePod removes the pod's sandboxes (and with them its containers) and
// its cgroup.
func (k *Kubelet) removePod(ctx context.Context, uid types.UID, rp *runtimePod) error {
	var errs []error
	for _, sb := range rp.sandboxes {
		if _, err := k.cfg.Runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range rp.containers {
		if _, err := k.cfg.Runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return k.cgroups.destroyPod(string(uid))
}

// removePodFiles removes the pod's kubelet directory and, when known, its
// log directory.
func (k *Kubelet) removePodFiles(uid types.UID, logDir *string) error {
	err := os.RemoveAll(k.podDir(uid))
	if logDir != nil {
		err = errors.Join(err, os.RemoveAll(*logDir))
	}
	return err
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
