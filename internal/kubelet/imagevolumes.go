package kubelet

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Image volumes (volumes[].image, KEP-4639): before a container that
// mounts one starts, its image is made present by the volume's pull policy
// exactly as a container's image is (the same events, back-off and
// waiting reasons, on the pod rather than on a container), and the
// runtime then mounts it read-only. A pull that fails keeps the container
// waiting with the pull's reason (ErrImagePull, ImagePullBackOff,
// ErrImageNeverPull), as upstream's image volume pull results do.

// podVolume is the pod's volume called name (nil: none).
func podVolume(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// ensureImageVolumes pulls the images of the image volumes c mounts and
// returns their image IDs by volume name.
func (k *Kubelet) ensureImageVolumes(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container) (map[string]string, waitingReason, error) {
	var refs map[string]string
	for _, m := range c.VolumeMounts {
		v := podVolume(pod, m.Name)
		if v == nil || v.Image == nil {
			continue
		}
		if _, done := refs[v.Name]; done {
			continue
		}
		// The pull is the pod's (no container field path), with the
		// volume's reference and policy.
		src := &corev1.Container{Image: v.Image.Reference, ImagePullPolicy: v.Image.PullPolicy}
		ref, reason, err := k.ensureImage(ctx, w, pod, src, "")
		if err != nil {
			return nil, reason, err
		}
		if refs == nil {
			refs = map[string]string{}
		}
		refs[v.Name] = ref
	}
	return refs, waitingReason{}, nil
}
