package kubelet

import (
	corev1 "k8s.io/api/core/v1"
)

// Reasons of a pod refused for its operating system
// (pkg/kubelet/lifecycle/predicate.go).
const (
	reasonPodOSSelectorNodeLabelDoesNotMatch = "PodOSSelectorNodeLabelDoesNotMatch"
	reasonPodOSNotSupported                  = "PodOSNotSupported"
)

// checkPodOS reports why a pod may not run on a node of operating system
// nodeOS (runtime.GOOS on a real node), as the kubelet's predicate admit
// handler does before any resource check: a pod labelled
// kubernetes.io/os with another OS (upstream compares the pod's labels, not
// its nodeSelector, with the node's label, which the kubelet keeps equal to
// its own OS; a nodeSelector is the scheduler's business), then a
// spec.os.name of another OS. It returns "" when the pod may run.
func checkPodOS(pod *corev1.Pod, nodeOS string) (reason, message string) {
	if os, ok := pod.Labels[corev1.LabelOSStable]; ok && os != nodeOS {
		return reasonPodOSSelectorNodeLabelDoesNotMatch, "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != nodeOS {
		return reasonPodOSNotSupported, "Failed to admit pod as the OS field doesn't match node OS"
	}
	return "", ""
}
