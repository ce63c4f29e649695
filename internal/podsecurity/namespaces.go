package podsecurity

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/peapod/peapod/internal/registry"
)

// Upstream's bounds on checking a namespace's pods against a new enforce
// level.
const (
	maxPodsToCheck = 3000
	podCheckTime   = time.Second
)

// admitNamespace refuses invalid pod-security labels (422; on update only
// when they changed) and, when an update sets or tightens the enforce
// level, warns about the namespace's pods that violate it.
func (a *Admission) admitNamespace(ctx context.Context, ns, old *corev1.Namespace) error {
	p, errs := psapi.PolicyToEvaluate(ns.Labels, a.defaults)
	invalid := func() error {
		return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Namespace").GroupKind(), ns.Name, errs)
	}
	if old == nil {
		if len(errs) > 0 {
			return invalid()
		}
		return nil
	}
	oldP, oldErrs := psapi.PolicyToEvaluate(old.Labels, a.defaults)
	if len(errs) > 0 && (len(oldErrs) == 0 || !reflect.DeepEqual(errs, oldErrs)) {
		return invalid()
	}
	// Nothing to check when enforce is unchanged, privileged, or relaxed
	// at the same version.
	if p.Enforce == oldP.Enforce || p.Enforce.Level == psapi.LevelPrivileged ||
		(p.Enforce.Version == oldP.Enforce.Version && psapi.CompareLevels(p.Enforce.Level, oldP.Enforce.Level) < 1) {
		return nil
	}
	for _, w := range a.existingPodWarnings(ctx, ns.Name, p.Enforce) {
		registry.AddWarning(ctx, w)
	}
	return nil
}

// violation counts the pods that share one list of reasons.
type violation struct {
	first string // the lexically first pod name
	pods  int
}

// existingPodWarnings checks the namespace's pods against a new enforce
// level within upstream's bounds (a second, or half of what remains of
// the request's deadline; 3000 pods, one per controller first) and words
// the result as upstream does: a headline, then one line per distinct list
// of reasons naming its first pod and how many others share it.
func (a *Admission) existingPodWarnings(ctx context.Context, ns string, enforce psapi.LevelVersion) []string {
	timeout := podCheckTime
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline)/2 < timeout {
		timeout = time.Until(deadline) / 2
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	list, err := a.Pods.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return []string{"failed to list pods while checking new PodSecurity enforce level"}
	}
	pods := prioritized(list.(*corev1.PodList).Items)
	total := len(pods)
	if len(pods) > maxPodsToCheck {
		pods = pods[:maxPodsToCheck]
	}
	checked := len(pods)
	var reasons []string
	byReason := map[string]violation{}
	for i, pod := range pods {
		r := policy.AggregateCheckResults(a.evaluator.EvaluatePod(enforce, &pod.ObjectMeta, &pod.Spec))
		if !r.Allowed {
			reason := r.ForbiddenReason()
			v, seen := byReason[reason]
			if !seen {
				reasons = append(reasons, reason)
				v.first = pod.Name
			} else if pod.Name < v.first {
				v.first = pod.Name
			}
			v.pods++
			byReason[reason] = v
		}
		if ctx.Err() != nil {
			checked = i + 1
			break
		}
	}
	var warnings []string
	if checked < total {
		warnings = append(warnings, fmt.Sprintf("new PodSecurity enforce level only checked against the first %d of %d existing pods", checked, total))
	}
	if len(reasons) > 0 {
		warnings = append(warnings, fmt.Sprintf("existing pods in namespace %q violate the new PodSecurity enforce level %q", ns, enforce.String()))
	}
	lines := make([]string, 0, len(reasons))
	for _, reason := range reasons {
		v := byReason[reason]
		switch v.pods {
		case 1:
			lines = append(lines, fmt.Sprintf("%s: %s", v.first, reason))
		case 2:
			lines = append(lines, fmt.Sprintf("%s (and 1 other pod): %s", v.first, reason))
		default:
			lines = append(lines, fmt.Sprintf("%s (and %d other pods): %s", v.first, v.pods-1, reason))
		}
	}
	sort.Strings(lines)
	return append(warnings, lines...)
}

// prioritized orders pods for checking as upstream: pods without a
// controller and the first pod of each controller, then the other pods of
// controllers already seen.
func prioritized(items []corev1.Pod) []*corev1.Pod {
	var first, rest []*corev1.Pod
	seen := map[types.UID]bool{}
	for i := range items {
		pod := &items[i]
		ref := metav1.GetControllerOfNoCopy(pod)
		switch {
		case ref == nil:
			first = append(first, pod)
		case seen[ref.UID]:
			rest = append(rest, pod)
		default:
			seen[ref.UID] = true
			first = append(first, pod)
		}
	}
	return append(first, rest...)
}
