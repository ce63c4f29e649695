package podsecurity

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/peapod/peapod/internal/registry"
)

// ignoredPodSubresources are the pod subresources whose writes cannot
// change what is checked; every other one (ephemeralcontainers, resize)
// is looked at, as upstream.
var ignoredPodSubresources = map[string]bool{
	"exec": true, "attach": true, "binding": true, "eviction": true,
	"log": true, "portforward": true, "proxy": true, "status": true,
}

// admitPod checks a pod against its namespace's levels: the enforce level
// refuses it (403), the audit level's violations become an audit
// annotation, the warn level's a warning (unless it is refused). An
// update is only checked when it matters.
func (a *Admission) admitPod(ctx context.Context, res *registry.Resource, ns, subresource string, pod, old *corev1.Pod) error {
	if ignoredPodSubresources[subresource] {
		return nil
	}
	p, policyErrs, err := a.policyOf(ctx, ns)
	if err != nil {
		refusal := apierrors.NewInternalError(fmt.Errorf("failed to lookup namespace %q", ns))
		audit(ctx, "error", fmt.Sprintf("%s: %v", refusal.ErrStatus.Message, err))
		return refusal
	}
	if len(policyErrs) == 0 && p.FullyPrivileged() {
		// Whatever the versions: privileged is privileged.
		audit(ctx, psapi.EnforcedPolicyAnnotationKey, psapi.LevelVersion{Level: psapi.LevelPrivileged, Version: psapi.LatestVersion()}.String())
		return nil
	}
	if old != nil && !significantUpdate(pod, old) {
		return nil
	}
	if len(policyErrs) > 0 {
		audit(ctx, "error", fmt.Sprintf("Failed to parse policy: %v", policyErrs.ToAggregate()))
	}
	audit(ctx, psapi.EnforcedPolicyAnnotationKey, p.Enforce.String())
	results := map[psapi.LevelVersion]policy.AggregateCheckResult{}
	enforced := a.check(results, p.Enforce, &pod.ObjectMeta, &pod.Spec)
	a.auditAndWarn(ctx, results, p, &pod.ObjectMeta, &pod.Spec, enforced.Allowed)
	if !enforced.Allowed {
		return apierrors.NewForbidden(res.GroupResource(), pod.Name,
			fmt.Errorf("violates PodSecurity %q: %s", p.Enforce.String(), enforced.ForbiddenDetail()))
	}
	return nil
}

// auditTemplate checks the pod template of a workload against the audit
// and warn levels of its namespace; the enforce level applies to the pods
// it makes, not to it.
func (a *Admission) auditTemplate(ctx context.Context, ns, name string, template *corev1.PodTemplateSpec) {
	p, policyErrs, err := a.policyOf(ctx, ns)
	if err != nil {
		audit(ctx, "error", fmt.Sprintf("failed to lookup namespace %q: %v", ns, err))
		return
	}
	if len(policyErrs) == 0 && p.Warn.Level == psapi.LevelPrivileged && p.Audit.Level == psapi.LevelPrivileged {
		return
	}
	if len(policyErrs) > 0 {
		audit(ctx, "error", fmt.Sprintf("Failed to parse policy: %v", policyErrs.ToAggregate()))
	}
	a.auditAndWarn(ctx, map[psapi.LevelVersion]policy.AggregateCheckResult{}, p, &template.ObjectMeta, &template.Spec, true)
}

// auditAndWarn records the audit level's violations and, when the object
// is admitted, warns about the warn level's.
func (a *Admission) auditAndWarn(ctx context.Context, results map[psapi.LevelVersion]policy.AggregateCheckResult, p psapi.Policy, m *metav1.ObjectMeta, spec *corev1.PodSpec, admitted bool) {
	if r := a.check(results, p.Audit, m, spec); !r.Allowed {
		audit(ctx, psapi.AuditViolationsAnnotationKey, fmt.Sprintf("would violate PodSecurity %q: %s", p.Audit.String(), r.ForbiddenDetail()))
	}
	if !admitted {
		return
	}
	if r := a.check(results, p.Warn, m, spec); !r.Allowed {
		registry.AddWarning(ctx, fmt.Sprintf("would violate PodSecurity %q: %s", p.Warn.String(), r.ForbiddenDetail()))
	}
}

// check evaluates a pod at lv, once per level and version.
func (a *Admission) check(results map[psapi.LevelVersion]policy.AggregateCheckResult, lv psapi.LevelVersion, m *metav1.ObjectMeta, spec *corev1.PodSpec) policy.AggregateCheckResult {
	r, ok := results[lv]
	if !ok {
		r = policy.AggregateCheckResults(a.evaluator.EvaluatePod(lv, m, spec))
		results[lv] = r
	}
	return r
}

// significantUpdate reports whether a pod update changes what the checks
// look at, as upstream decides it: the number of containers or init
// containers, an image, or an ephemeral container added or changed.
// Everything else the checks read is immutable.
func significantUpdate(pod, old *corev1.Pod) bool {
	if len(pod.Spec.Containers) != len(old.Spec.Containers) || len(pod.Spec.InitContainers) != len(old.Spec.InitContainers) {
		return true
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Image != old.Spec.Containers[i].Image {
			return true
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Image != old.Spec.InitContainers[i].Image {
			return true
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		found := false
		for _, oc := range old.Spec.EphemeralContainers {
			if oc.Name == c.Name {
				if oc.Image != c.Image {
					return true
				}
				found = true
				break
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// podTemplate returns the pod template of the workload kinds upstream
// looks at, nil for other objects.
func podTemplate(obj runtime.Object) *corev1.PodTemplateSpec {
	switch o := obj.(type) {
	case *corev1.PodTemplate:
		return &o.Template
	case *corev1.ReplicationController:
		return o.Spec.Template
	case *appsv1.ReplicaSet:
		return &o.Spec.Template
	case *appsv1.Deployment:
		return &o.Spec.Template
	case *appsv1.DaemonSet:
		return &o.Spec.Template
	case *appsv1.StatefulSet:
		return &o.Spec.Template
	case *batchv1.Job:
		return &o.Spec.Template
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template
	}
	return nil
}
