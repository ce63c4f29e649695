package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/containerlog"
)

// Logs writes a container's log (GetContainerLogs upstream): the current
// instance, or with previous the one before it.
func (k *Kubelet) Logs(ctx context.Context, pod *corev1.Pod, opts *corev1.PodLogOptions, w io.Writer) error {
	if findContainer(pod, opts.Container) == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", opts.Container, pod.Name))
	}
	rp, err := k.runtimePodStatus(ctx, k.runtimeUID(pod))
	if err != nil {
		return err
	}
	inst := rp.instances(opts.Container)
	idx := 0
	if opts.Previous {
		idx = 1
	}
	if len(inst) <= idx {
		if opts.Previous {
			return apierrors.NewBadRequest(fmt.Sprintf("previous terminated container %q in pod %q not found", opts.Container, pod.Name))
		}
		reason := reasonContainerCreating
		statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range append(statuses, pod.Status.EphemeralContainerStatuses...) {
			if cs.Name == opts.Container && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
				reason = cs.State.Waiting.Reason
			}
		}
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: %s", opts.Container, pod.Name, reason))
	}
	c := inst[idx]
	ro := containerlog.Options{Timestamps: opts.Timestamps, TailLines: opts.TailLines, LimitBytes: opts.LimitBytes, Follow: opts.Follow && idx == 0}
	if opts.Stream != nil {
		ro.Stream = *opts.Stream
	}
	switch {
	case opts.SinceTime != nil:
		ro.Since = opts.SinceTime.Time
	case opts.SinceSeconds != nil:
		ro.Since = time.Now().Add(-time.Duration(*opts.SinceSeconds) * time.Second)
	}
	done := func() bool {
		st, err := k.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		return err != nil || st.GetStatus().GetState() == runtimeapi.ContainerState_CONTAINER_EXITED
	}
	err = containerlog.Read(ctx, c.GetLogPath(), ro, done, w)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing logged yet
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
