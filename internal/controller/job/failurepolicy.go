package job

import (
	"fmt"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

// Pod failure policy (pod_failure_policy.go): the first rule that matches
// a failed pod decides what its failure does — FailJob fails the Job,
// Ignore does not count it, Count counts it as any failure. A pod no rule
// matches counts.

// reasonPodFailurePolicy is the Failed reason of a FailJob rule.
const reasonPodFailurePolicy = "PodFailurePolicy"

// matchFailurePolicy returns the action of the first rule matching a
// failed pod and the message a FailJob rule gives ("" action: none
// matched).
func matchFailurePolicy(policy *batchv1.PodFailurePolicy, p *corev1.Pod) (batchv1.PodFailurePolicyAction, string) {
	if policy == nil {
		return "", ""
	}
	for i, r := range policy.Rules {
		if e := r.OnExitCodes; e != nil {
			if c, code, ok := matchExitCodes(e, p); ok {
				return r.Action, fmt.Sprintf("Container %s for pod %s/%s failed with exit code %d matching %s rule at index %d", c, p.Namespace, p.Name, code, r.Action, i)
			}
			continue
		}
		for _, pat := range r.OnPodConditions {
			for _, cond := range p.Status.Conditions {
				if cond.Type == pat.Type && cond.Status == pat.Status {
					return r.Action, fmt.Sprintf("Pod %s/%s has condition %s matching %s rule at index %d", p.Namespace, p.Name, cond.Type, r.Action, i)
				}
			}
		}
	}
	return "", ""
}

// matchExitCodes finds a container (regular ones first, then init ones)
// that ended with a non-zero exit code the requirement matches.
func matchExitCodes(e *batchv1.PodFailurePolicyOnExitCodesRequirement, p *corev1.Pod) (string, int32, bool) {
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for _, cs := range statuses {
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 || (e.ContainerName != nil && *e.ContainerName != cs.Name) {
				continue
			}
			in := slices.Contains(e.Values, t.ExitCode)
			if (e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
				return cs.Name, t.ExitCode, true
			}
		}
	}
	return "", 0, false
}
