package kubelet

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/prober"
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
	corev1.PodResizePending: true, corev1.PodResizeInProgress: true,
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

	// The resize conditions come first, as upstream.
	if !terminal {
		for _, c := range k.resizeConditions(pod.UID) {
			c.LastProbeTime = now
			if prev, ok := old[c.Type]; ok && prev.Status == c.Status && prev.Reason == c.Reason && prev.Message == c.Message {
				c.LastProbeTime = prev.LastProbeTime
			}
			add(c)
		}
	}

	sandboxReady := corev1.ConditionFalse
	if rp.readySandbox() != nil && !terminal && st.Phase != corev1.PodSucceeded && st.Phase != corev1.PodFailed {
		sandboxReady = corev1.ConditionTrue
	}
	add(corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: sandboxReady})

	add(initializedCondition(pod, st))

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

// initializedCondition is GeneratePodInitializedCondition: True once every
// regular init container succeeded and every sidecar started, or once a
// regular container ran (a pod whose sidecar restarts stays initialized).
func initializedCondition(pod *corev1.Pod, st *corev1.PodStatus) corev1.PodCondition {
	c := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	inits := pod.Spec.InitContainers
	if len(inits) > 0 && st.InitContainerStatuses == nil {
		c.Status, c.Reason = corev1.ConditionFalse, reasonUnknownStatuses
		return c
	}
	var unknown, incomplete []string
	for i := range inits {
		cs := findStatus(st.InitContainerStatuses, inits[i].Name)
		switch {
		case cs == nil:
			unknown = append(unknown, inits[i].Name)
		case prober.IsSidecar(&inits[i]):
			if cs.Started == nil || !*cs.Started {
				incomplete = append(incomplete, inits[i].Name)
			}
		case !cs.Ready:
			incomplete = append(incomplete, inits[i].Name)
		}
	}
	if st.Phase == corev1.PodSucceeded && len(unknown) == 0 {
		c.Reason = reasonPodCompleted
		return c
	}
	for _, cs := range st.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return c
		}
	}
	if len(unknown) == 0 && len(incomplete) == 0 {
		return c
	}
	c.Status, c.Reason, c.Message = corev1.ConditionFalse, reasonContainersNotInitialized, containersMessage(unknown, "incomplete", incomplete)
	return c
}

// Initialized condition reasons.
const (
	reasonContainersNotInitialized = "ContainersNotInitialized"
	reasonUnknownStatuses          = "UnknownContainerStatuses"
)

func findStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

// containersReadyCondition is GenerateContainersReadyCondition: every
// regular container and every sidecar ready.
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
	check := func(name string, list []corev1.ContainerStatus) {
		switch cs := findStatus(list, name); {
		case cs == nil:
			unknown = append(unknown, name)
		case !cs.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if prober.IsSidecar(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name, st.InitContainerStatuses)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name, st.ContainerStatuses)
	}
	if len(unknown) == 0 && len(unready) == 0 {
		c.Status = corev1.ConditionTrue
		return c
	}
	c.Reason, c.Message = reasonContainersNotReady, containersMessage(unknown, "unready", unready)
	return c
}

// containersMessage is a False condition's message: "containers with
// unknown status: [a b], containers with <what> status: [c]".
func containersMessage(unknown []string, what string, others []string) string {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unreadyNames(unknown)))
	}
	if len(others) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with %s status: %s", what, unreadyNames(others)))
	}
	return strings.Join(msgs, ", ")
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
