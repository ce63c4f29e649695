package kubelet

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// activeDeadlineSeconds (pkg/kubelet/active_deadline.go): a pod active on
// the node longer than its deadline fails.
const (
	reasonDeadlineExceeded  = "DeadlineExceeded"
	messageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// pastActiveDeadline reports whether the pod has been active (since its
// status.startTime) for its activeDeadlineSeconds or longer.
func pastActiveDeadline(pod *corev1.Pod, now time.Time) bool {
	at, ok := activeDeadline(pod)
	return ok && !now.Before(at)
}

// activeDeadline is when the pod's active deadline passes, if it has one.
func activeDeadline(pod *corev1.Pod) (time.Time, bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || pod.Status.StartTime == nil {
		return time.Time{}, false
	}
	return pod.Status.StartTime.Add(time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second), true
}
