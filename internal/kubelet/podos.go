package kubelet

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
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

// reasonNodeAffinity is the reason of a pod refused because it does not
// match the node's labels (the NodeAffinity predicate upstream).
const reasonNodeAffinity = "NodeAffinity"

// nodeAffinityMismatch reports why a pod may not run on node for its
// nodeSelector and required node affinity, with the message of the
// kubelet's general predicates, or "". The scheduler keeps such a pod
// Pending; this catches one bound to the node by its author (spec.nodeName)
// or a static pod.
func nodeAffinityMismatch(pod *corev1.Pod, node *corev1.Node) (reason, message string) {
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return reasonNodeAffinity, "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
	}
	return "", ""
}

// checkNodeAffinity is nodeAffinityMismatch against this node as the API
// has it; a node that cannot be read admits the pod (the next sync, if
// any, checks again) where upstream would fail it with InvalidNodeInfo.
func (k *Kubelet) checkNodeAffinity(ctx context.Context, pod *corev1.Pod) (reason, message string) {
	obj, err := k.cfg.Nodes.Get(ctx, "", k.cfg.NodeName)
	if err != nil {
		k.log.Warn("admitting a pod without checking its node affinity", "pod", podRef(pod, pod.UID), "err", err)
		return "", ""
	}
	return nodeAffinityMismatch(pod, obj.(*corev1.Node))
}
