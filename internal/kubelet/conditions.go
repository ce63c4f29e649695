package kubelet

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons of pkg/kubelet/status/generate.go.
const (
	reasonContainersNotReady = "ContainersNotReady"
	reasonPodCompleted       = "PodCompleted"
	reasonPodFailed          = "PodFailed"
	reasonReadinessGates     = "ReadinessGatesNotReady"
)

// kubeletConditions are the condition types the kubelet owns.
var kubeletConditions = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true, corev1.PodReady: true,
	corev1.ContainersReady: true, corev1.PodScheduled: true,
}

// conditions computes the pod conditions in the kubelet's order, keeping
// other owners' conditions first and each lastTransitionTime unless the
// status flips.
func (k *Kubelet) conditions(pod *corev1.Pod, st *corev1.PodStatus, rp *runtimePod, terminal bool, now metav1.Time) []corev1.PodCondition {
	var out []corev1.PodCondition
	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		old[c.Type] = c
		if !kubeletConditions[c.Type] {
			out = append(out, c)
		}
	}
	add := func(c corev1.PodCondition) {
		c.LastTransitionTime = now
		if prev, ok := old[c.Type]; ok && prev.Status == c.Status {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		out = append(out, c)
	}

	sandboxReady := corev1.ConditionFalse
	if rp.readySandbox() != nil && !terminal && st.Phase != corev1.PodSucceeded && st.Phase != corev1.PodFailed {
		sandboxReady = corev1.ConditionTrue
	}
	add(corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: sandboxReady})

	initialized := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if st.Phase == corev1.PodSucceeded {
		initialized.Reason = reasonPodCompleted
	}
	add(initialized)

	containersReady := containersReadyCondition(pod, st)
	ready := containersReady
	ready.Type = corev1.PodReady
	if containersReady.Status == corev1.ConditionTrue {
		ready = readinessGatesCondition(pod, st)
	}
	add(ready)
	add(containersReady)

	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}
	if prev, ok := old[corev1.PodScheduled]; ok {
		scheduled = prev
	}
	add(scheduled)
	return out
}

// containersReadyCondition is GenerateContainersReadyCondition.
func containersReadyCondition(pod *corev1.Pod, st *corev1.PodStatus) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse}
	switch st.Phase {
	case corev1.PodSucceeded:
		c.Reason = reasonPodCompleted
		return c
	case corev1.PodFailed:
		c.Reason = reasonPodFailed
		return c
	}
	var unknown, unready []string
	for _, spec := range pod.Spec.Containers {
		found := false
		for _, cs := range st.ContainerStatuses {
			if cs.Name == spec.Name {
				found = true
				if !cs.Ready {
					unready = append(unready, spec.Name)
				}
			}
		}
		if !found {
			unknown = append(unknown, spec.Name)
		}
	}
	if len(unknown) == 0 && len(unready) == 0 {
		c.Status = corev1.ConditionTrue
		return c
	}
	var msg string
	if len(unknown) > 0 {
		msg = fmt.Sprintf("containers with unknown status: %s", unreadyNames(unknown))
	}
	if len(unready) > 0 {
		if msg != "" {
			msg += ", "
		}
		msg += fmt.Sprintf("containers with unready status: %s", unreadyNames(unready))
	}
	c.Reason, c.Message = reasonContainersNotReady, msg
	return c
}

// readinessGatesCondition is the Ready condition once containers are ready.
func readinessGatesCondition(pod *corev1.Pod, st *corev1.PodStatus) corev1.PodCondition {
	for _, g := range pod.Spec.ReadinessGates {
		found := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType {
				found = true
				if c.Status != corev1.ConditionTrue {
					return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reasonReadinessGates,
						Message: fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, c.Status)}
				}
			}
		}
		if !found {
			return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: reasonReadinessGates,
				Message: fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)}
		}
	}
	return corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
}
