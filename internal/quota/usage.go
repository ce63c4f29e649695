package quota

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/peapod/peapod/internal/qos"
)

// What a quota counts (pkg/quota/v1/evaluator/core): object counts under
// count/<resource>[.<group>] and, for a few core resources, their legacy
// names; for pods, compute resources too.

// legacyCounts are the object-count names that predate count/<resource>.
var legacyCounts = map[string]corev1.ResourceName{
	"pods":                   corev1.ResourcePods,
	"services":               corev1.ResourceServices,
	"secrets":                corev1.ResourceSecrets,
	"configmaps":             corev1.ResourceConfigMaps,
	"persistentvolumeclaims": corev1.ResourcePersistentVolumeClaims,
	"replicationcontrollers": corev1.ResourceReplicationControllers,
	"resourcequotas":         corev1.ResourceQuotas,
}

// countName is count/<resource>, with .<group> outside the core group.
func countName(resourceName, group string) corev1.ResourceName {
	if group == "" {
		return corev1.ResourceName("count/" + resourceName)
	}
	return corev1.ResourceName("count/" + resourceName + "." + group)
}

// objectUsage is what one object of a resource other than pods charges.
func objectUsage(resourceName, group string) corev1.ResourceList {
	one := resource.MustParse("1")
	u := corev1.ResourceList{countName(resourceName, group): one}
	if legacy, ok := legacyCounts[resourceName]; ok && group == "" && resourceName != "pods" {
		u[legacy] = one
	}
	return u
}

// chargesCompute is QuotaV1Pod: a pod counts (beyond count/pods) unless it
// finished, or was deleted and its grace period is over.
func chargesCompute(pod *corev1.Pod, now time.Time) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.DeletionTimestamp != nil && pod.DeletionGracePeriodSeconds != nil {
		end := pod.DeletionTimestamp.Add(time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second)
		if now.After(end) {
			return false
		}
	}
	return true
}

// podUsage is PodUsageFunc: count/pods always; pods and the pod's
// aggregate requests and limits (sidecar-aware, as the kubelet sizes the
// pod) while it counts.
func podUsage(pod *corev1.Pod, now time.Time) corev1.ResourceList {
	one := resource.MustParse("1")
	u := corev1.ResourceList{countName("pods", ""): one}
	if !chargesCompute(pod, now) {
		return u
	}
	u[corev1.ResourcePods] = one
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	for name, q := range requests {
		switch {
		case name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage ||
			strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix):
			u[name] = q
			u[corev1.ResourceName("requests."+string(name))] = q
		default:
			// Extended resources count only as requests.<name>.
			u[corev1.ResourceName("requests."+string(name))] = q
		}
	}
	for name, q := range limits {
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage {
			u[corev1.ResourceName("limits."+string(name))] = q
		}
	}
	return u
}

// podMatchesScopes reports whether a quota's scopes select the pod
// (podMatchesScopeFunc).
func podMatchesScopes(q *corev1.ResourceQuota, pod *corev1.Pod) bool {
	for _, sel := range scopeSelectors(q) {
		if !podMatchesScope(sel, pod) {
			return false
		}
	}
	return true
}

// scopeSelectors are the quota's spec.scopes (each an Exists) and its
// scopeSelector's expressions.
func scopeSelectors(q *corev1.ResourceQuota) []corev1.ScopedResourceSelectorRequirement {
	var out []corev1.ScopedResourceSelectorRequirement
	for _, s := range q.Spec.Scopes {
		out = append(out, corev1.ScopedResourceSelectorRequirement{ScopeName: s, Operator: corev1.ScopeSelectorOpExists})
	}
	if q.Spec.ScopeSelector != nil {
		out = append(out, q.Spec.ScopeSelector.MatchExpressions...)
	}
	return out
}

func podMatchesScope(sel corev1.ScopedResourceSelectorRequirement, pod *corev1.Pod) bool {
	switch sel.ScopeName {
	case corev1.ResourceQuotaScopeTerminating:
		return isTerminating(pod)
	case corev1.ResourceQuotaScopeNotTerminating:
		return !isTerminating(pod)
	case corev1.ResourceQuotaScopeBestEffort:
		return qos.PodQOSClass(pod) == corev1.PodQOSBestEffort
	case corev1.ResourceQuotaScopeNotBestEffort:
		return qos.PodQOSClass(pod) != corev1.PodQOSBestEffort
	case corev1.ResourceQuotaScopePriorityClass:
		name := pod.Spec.PriorityClassName
		switch sel.Operator {
		case corev1.ScopeSelectorOpExists:
			return name != ""
		case corev1.ScopeSelectorOpDoesNotExist:
			return name == ""
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			in := false
			for _, v := range sel.Values {
				in = in || v == name
			}
			return in == (sel.Operator == corev1.ScopeSelectorOpIn)
		}
	case corev1.ResourceQuotaScopeCrossNamespacePodAffinity:
		return crossNamespaceAffinity(pod)
	}
	return false
}

// isTerminating: a pod with an active deadline ends by itself.
func isTerminating(pod *corev1.Pod) bool {
	return pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds >= 0
}

// crossNamespaceAffinity reports whether a pod's (anti-)affinity terms
// name other namespaces.
func crossNamespaceAffinity(pod *corev1.Pod) bool {
	a := pod.Spec.Affinity
	if a == nil {
		return false
	}
	var terms []corev1.PodAffinityTerm
	if a.PodAffinity != nil {
		terms = append(terms, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	if a.PodAntiAffinity != nil {
		terms = append(terms, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution...)
		for _, w := range a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
			terms = append(terms, w.PodAffinityTerm)
		}
	}
	for _, t := range terms {
		if len(t.Namespaces) > 0 || t.NamespaceSelector != nil {
			return true
		}
	}
	return false
}

// podKeys are the quota keys the pod evaluator tracks, besides
// hugepages-* and requests.<extended>.
var podKeys = map[corev1.ResourceName]bool{
	"count/pods": true, corev1.ResourcePods: true,
	corev1.ResourceCPU: true, corev1.ResourceMemory: true, corev1.ResourceEphemeralStorage: true,
	corev1.ResourceRequestsCPU: true, corev1.ResourceRequestsMemory: true, corev1.ResourceRequestsEphemeralStorage: true,
	corev1.ResourceLimitsCPU: true, corev1.ResourceLimitsMemory: true, corev1.ResourceLimitsEphemeralStorage: true,
}

// otherEvaluated are the keys of the resources upstream has evaluators for
// that peapod does not serve (services, replication controllers): tracked,
// so a quota shows them used 0, as upstream. Volume claims are served and
// counted (claims.go).
var otherEvaluated = map[corev1.ResourceName]bool{
	corev1.ResourceServices: true, corev1.ResourceServicesNodePorts: true, corev1.ResourceServicesLoadBalancers: true,
	corev1.ResourceReplicationControllers: true, "count/services": true, "count/replicationcontrollers": true,
}

// tracked reports whether some evaluator computes usage for a hard key:
// only those get a status.used entry and are checked at admission (a bare
// extended resource name, or a count of a resource that does not exist, is
// limited by nothing).
func tracked(key corev1.ResourceName, counted map[string]bool) bool {
	k := string(key)
	switch {
	case podKeys[key], claimKeys[key], otherEvaluated[key]:
		return true
	case strings.HasPrefix(k, corev1.ResourceHugePagesPrefix), strings.HasPrefix(k, "requests."+corev1.ResourceHugePagesPrefix):
		return true
	case strings.HasPrefix(k, "requests.") && strings.Contains(k, "/"):
		return true // extended resources, requests.<name>
	case strings.Contains(k, ".storageclass.storage.k8s.io/"):
		return true
	case strings.HasPrefix(k, "count/"):
		return counted[strings.TrimPrefix(k, "count/")]
	case k == "configmaps" || k == "secrets" || k == "resourcequotas":
		return counted[k]
	}
	return false
}
