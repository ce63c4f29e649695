package kubelet

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/peapod/peapod/internal/prober"
)

// podPhase is getPhase: the phase from the container statuses, counting
// regular init containers (a failure under restartPolicy Never fails the
// pod; any still to finish keeps it Pending), sidecars (never what makes a
// pod finish) and regular containers. terminal is podIsTerminal: the pod
// is done (deleted and stopped, or killed for good), so it ends Succeeded
// or Failed by its containers' exit codes.
func podPhase(pod *corev1.Pod, st *corev1.PodStatus, rp *runtimePod, terminal bool) corev1.PodPhase {
	var pendingInit, failedInit, pendingSidecar, unknown, running, waiting, stopped, succeeded int
	inits := map[string]*corev1.ContainerStatus{}
	for i := range st.InitContainerStatuses {
		inits[st.InitContainerStatuses[i].Name] = &st.InitContainerStatuses[i]
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs, ok := inits[c.Name]
		if !prober.IsSidecar(c) {
			switch {
			case !ok:
				pendingInit++
			case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			case cs.State.Terminated != nil,
				cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.ExitCode != 0:
				failedInit++
			default:
				pendingInit++
			}
			continue
		}
		switch {
		case !ok:
			unknown++
		case cs.State.Running != nil:
			running++
			if cs.Started == nil || !*cs.Started {
				pendingSidecar++
			}
		case cs.State.Terminated != nil, cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
		case cs.State.Waiting != nil:
			pendingSidecar++
			waiting++
		default:
			pendingSidecar++
			unknown++
		}
	}
	regular := map[string]*corev1.ContainerStatus{}
	for i := range st.ContainerStatuses {
		regular[st.ContainerStatuses[i].Name] = &st.ContainerStatuses[i]
	}
	for i := range pod.Spec.Containers {
		cs, ok := regular[pod.Spec.Containers[i].Name]
		switch {
		case !ok:
			unknown++
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
		case cs.State.Waiting != nil:
			waiting++
		default:
			unknown++
		}
	}
	switch {
	case failedInit > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
		return corev1.PodFailed
	case pendingInit > 0, pendingSidecar > 0 && !rp.regularInCurrentSandbox(pod):
		return corev1.PodPending
	case waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case terminal && stopped == succeeded:
			return corev1.PodSucceeded
		case terminal:
			return corev1.PodFailed
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning // being restarted
		case stopped == succeeded:
			return corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}
