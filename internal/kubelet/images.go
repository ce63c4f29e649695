package kubelet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/reference"
)

// Image waiting reasons of pkg/kubelet/images.
const (
	reasonErrImagePull      = "ErrImagePull"
	reasonImagePullBackOff  = "ImagePullBackOff"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonInvalidImageName  = "InvalidImageName"
)

// workerBackOffPeriod is how soon the kubelet's pod worker retries a pod
// whose sync failed (backOffPeriod, with 50 % jitter, in pod_workers.go).
// Pull failures are retried on this rhythm, not at the end of the pull
// back-off, which is why STATUS shows ErrImagePull and ImagePullBackOff by
// turns as upstream does.
const workerBackOffPeriod = 10 * time.Second

func workerBackOff() time.Duration {
	return workerBackOffPeriod + time.Duration(rand.Int64N(int64(workerBackOffPeriod/2)))
}

// ensureImage makes the container's image present according to its pull
// policy (EnsureImageExists upstream) and returns the image ID.
func (k *Kubelet) ensureImage(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, fieldPath string) (string, waitingReason, error) {
	if _, err := reference.Normalize(c.Image); err != nil {
		msg := fmt.Sprintf("Failed to apply default image tag %q: %v", c.Image, err)
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, reasonInvalidImageName, "Error: %s", msg)
		return "", waitingReason{reasonInvalidImageName, msg}, errors.New(msg)
	}
	present := ""
	if st, err := k.cfg.Runtime.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: c.Image}}); err == nil && st.GetImage() != nil {
		present = st.GetImage().GetId()
	}
	pull := c.ImagePullPolicy == corev1.PullAlways || (c.ImagePullPolicy != corev1.PullNever && present == "")
	if !pull {
		if present == "" {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, reasonErrImageNeverPull, "%s", msg)
			return "", waitingReason{reasonErrImageNeverPull, msg}, errors.New(msg)
		}
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "Pulled", "Container image %q already present on machine", c.Image)
		return present, waitingReason{}, nil
	}
	key := string(pod.UID) + "_" + c.Image
	now := k.cfg.Now()
	if k.pullBack.IsInBackOffSinceUpdate(key, now) {
		msg := fmt.Sprintf("Back-off pulling image %q", c.Image)
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "BackOff", "%s", msg)
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Error: %s", reasonImagePullBackOff)
		w.retryAfter(workerBackOff())
		return "", waitingReason{reasonImagePullBackOff, msg}, errors.New(msg)
	}
	k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	resp, err := k.pullWithCredentials(ctx, c.Image, k.pullCredentials(ctx, pod, c.Image))
	if err != nil && present != "" && errors.Is(err, errdefs.ErrUnavailable) {
		// Deviation: upstream fails an Always pull when the registry is
		// unreachable. peapod is meant to work offline, so it runs the
		// copy it already has, and says so.
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Pulled",
			"Could not reach the registry for image %q (%v); using the image already present on machine", c.Image, err)
		return present, waitingReason{}, nil
	}
	if err != nil {
		k.pullBack.Next(key, now)
		w.retryAfter(workerBackOff())
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Error: %s", reasonErrImagePull)
		return "", waitingReason{reasonErrImagePull, err.Error()}, err
	}
	k.pullBack.Reset(key)
	d := time.Since(start).Round(time.Millisecond)
	size := uint64(0)
	if st, err := k.cfg.Runtime.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: resp.ImageRef}}); err == nil {
		size = st.GetImage().GetSize()
	}
	k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "Pulled", "Successfully pulled image %q in %s (%s including waiting). Image size: %d bytes.", c.Image, d, d, size)
	return resp.ImageRef, waitingReason{}, nil
}
