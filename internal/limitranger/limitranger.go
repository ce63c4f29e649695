// Package limitranger is kube-apiserver's LimitRanger admission plugin:
// when a pod is created in a namespace with LimitRanges, each container and
// init container gets the requests and limits it lacks from the ranges'
// Container defaults (recorded in the kubernetes.io/limit-ranger
// annotation), and the pod is refused (403) if a container or the pod as a
// whole is outside a range's min, max or limit-to-request ratio. A
// PersistentVolumeClaim is refused if its storage request is outside a
// range's PersistentVolumeClaim min or max, when it is created and when an
// update changes its requests. It runs before ResourceQuota admission, so
// defaulted pods satisfy quotas that require requests and limits.
package limitranger

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/peapod/peapod/internal/registry"
)

// Annotation records what the plugin set.
const Annotation = "kubernetes.io/limit-ranger"

// LimitRanger is the admission plugin.
type LimitRanger struct {
	// LimitRanges is the limitranges store.
	LimitRanges *registry.Store
}

// ranges lists the namespace's limit ranges; what is admitted names the
// error.
func (l *LimitRanger) ranges(ctx context.Context, ns, what string) ([]corev1.LimitRange, error) {
	obj, err := l.LimitRanges.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("unable to admit %s at this time because there was an error enforcing limit ranges: %w", what, err)
	}
	return obj.(*corev1.LimitRangeList).Items, nil
}

// Mutate fills missing requests and limits of a new pod's containers from
// the ranges' Container defaults.
func (l *LimitRanger) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	ranges, err := l.ranges(ctx, ns, "pods")
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	for i := range ranges {
		defaults, defaultRequests := corev1.ResourceList{}, corev1.ResourceList{}
		for _, item := range ranges[i].Spec.Limits {
			if item.Type != corev1.LimitTypeContainer {
				continue
			}
			for n, q := range item.Default {
				defaults[n] = q.DeepCopy()
			}
			for n, q := range item.DefaultRequest {
				defaultRequests[n] = q.DeepCopy()
			}
		}
		if len(defaults) == 0 && len(defaultRequests) == 0 {
			continue
		}
		var notes []string
		apply := func(c *corev1.Container, what string) {
			if set := fill(&c.Resources.Requests, defaultRequests); len(set) > 0 {
				notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(set, ", "), what, c.Name))
			}
			if set := fill(&c.Resources.Limits, defaults); len(set) > 0 {
				notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(set, ", "), what, c.Name))
			}
		}
		for j := range pod.Spec.Containers {
			apply(&pod.Spec.Containers[j], "container")
		}
		for j := range pod.Spec.InitContainers {
			apply(&pod.Spec.InitContainers[j], "init container")
		}
		if len(notes) > 0 {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			// As upstream, each range that sets something replaces the
			// annotation.
			pod.Annotations[Annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
		}
	}
	return nil
}

// fill adds the entries of from that list lacks and returns their names,
// sorted.
func fill(list *corev1.ResourceList, from corev1.ResourceList) []string {
	var set []string
	for name, q := range from {
		if _, ok := (*list)[name]; ok {
			continue
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q.DeepCopy()
		set = append(set, string(name))
	}
	sort.Strings(set)
	return set
}

// Validate refuses a pod or a claim outside a range: the first range with
// problems is reported, all of its problems together.
func (l *LimitRanger) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	if pvc, ok := obj.(*corev1.PersistentVolumeClaim); ok {
		return nil, l.validateClaim(ctx, res, ns, pvc)
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	ranges, err := l.ranges(ctx, ns, "pods")
	if err != nil {
		return nil, apierrors.NewInternalError(err)
	}
	for i := range ranges {
		var errs []error
		for _, item := range ranges[i].Spec.Limits {
			switch item.Type {
			case corev1.LimitTypeContainer:
				for _, c := range append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...) {
					errs = append(errs, check(item, string(corev1.LimitTypeContainer), c.Resources.Requests, c.Resources.Limits)...)
				}
			case corev1.LimitTypePod:
				requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{ExcludeOverhead: true})
				limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{ExcludeOverhead: true})
				errs = append(errs, check(item, string(corev1.LimitTypePod), requests, limits)...)
			}
		}
		if len(errs) > 0 {
			name := pod.Name
			if name == "" {
				name = pod.GenerateName
			}
			return nil, apierrors.NewForbidden(res.GroupResource(), name, utilerrors.NewAggregate(errs))
		}
	}
	return nil, nil
}

// ValidateUpdate holds a resized pod (the pods/resize subresource) to the
// namespace's ranges, as upstream's LimitRanger does for that UPDATE (the
// whole pod is checked, as in Kubernetes 1.35), and a claim whose update
// changes its requests (an expansion). Other updates are not checked:
// upstream checks every update of a claim, but a claim created before a
// range stays updatable here (its binding, its labels) as long as its
// requests stay the same.
func (l *LimitRanger) ValidateUpdate(ctx context.Context, res *registry.Resource, ns string, obj, old runtime.Object) (func(bool), error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		prev, ok := old.(*corev1.Pod)
		if !ok || sameResources(o, prev) {
			return nil, nil
		}
	case *corev1.PersistentVolumeClaim:
		prev, ok := old.(*corev1.PersistentVolumeClaim)
		if !ok || apiequality.Semantic.DeepEqual(o.Spec.Resources.Requests, prev.Spec.Resources.Requests) {
			return nil, nil
		}
	default:
		return nil, nil
	}
	return l.Validate(ctx, res, ns, obj)
}

// sameResources reports whether no container's resources differ.
func sameResources(a, b *corev1.Pod) bool {
	if len(a.Spec.Containers) != len(b.Spec.Containers) || len(a.Spec.InitContainers) != len(b.Spec.InitContainers) {
		return false
	}
	for i := range a.Spec.Containers {
		if !apiequality.Semantic.DeepEqual(a.Spec.Containers[i].Resources, b.Spec.Containers[i].Resources) {
			return false
		}
	}
	for i := range a.Spec.InitContainers {
		if !apiequality.Semantic.DeepEqual(a.Spec.InitContainers[i].Resources, b.Spec.InitContainers[i].Resources) {
			return false
		}
	}
	return apiequality.Semantic.DeepEqual(a.Spec.Resources, b.Spec.Resources)
}

// validateClaim is PersistentVolumeClaimValidateLimitFunc: a claim's
// storage request (its limits are not user input) against each range's
// PersistentVolumeClaim min and max.
func (l *LimitRanger) validateClaim(ctx context.Context, res *registry.Resource, ns string, pvc *corev1.PersistentVolumeClaim) error {
	ranges, err := l.ranges(ctx, ns, "persistentvolumeclaims")
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	kind := string(corev1.LimitTypePersistentVolumeClaim)
	requests := pvc.Spec.Resources.Requests
	for i := range ranges {
		var errs []error
		for _, item := range ranges[i].Spec.Limits {
			if item.Type != corev1.LimitTypePersistentVolumeClaim {
				continue
			}
			for _, name := range sortedNames(item.Min) {
				if err := minConstraint(kind, name, item.Min[name], requests, nil); err != nil {
					errs = append(errs, err)
				}
			}
			for _, name := range sortedNames(item.Max) {
				if err := maxRequestConstraint(kind, name, item.Max[name], requests); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if len(errs) > 0 {
			name := pvc.Name
			if name == "" {
				name = pvc.GenerateName
			}
			return apierrors.NewForbidden(res.GroupResource(), name, utilerrors.NewAggregate(errs))
		}
	}
	return nil
}

// maxRequestConstraint holds a request (a claim's: it has no limit) to a
// maximum.
func maxRequestConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, ok := requests[name]
	switch {
	case !ok:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case req.Cmp(enforced) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

// check holds requests and limits to an item's min, max and ratio, for
// each resource in name order.
func check(item corev1.LimitRangeItem, kind string, requests, limits corev1.ResourceList) []error {
	var errs []error
	for _, name := range sortedNames(item.Min) {
		if err := minConstraint(kind, name, item.Min[name], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedNames(item.Max) {
		if err := maxConstraint(kind, name, item.Max[name], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	for _, name := range sortedNames(item.MaxLimitRequestRatio) {
		if err := ratioConstraint(kind, name, item.MaxLimitRequestRatio[name], requests, limits); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

func minConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasReq:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, kind, enforced.String())
	case req.Cmp(enforced) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	case hasLim && lim.Cmp(enforced) < 0:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	}
	return nil
}

func maxConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasLim:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, kind, enforced.String())
	case lim.Cmp(enforced) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, kind, enforced.String(), lim.String())
	case hasReq && req.Cmp(enforced) > 0:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, kind, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(kind string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, hasReq := requests[name]
	lim, hasLim := limits[name]
	switch {
	case !hasReq || req.IsZero():
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, kind, enforced.String())
	case !hasLim || lim.IsZero():
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, kind, enforced.String())
	}
	ratio := float64(lim.MilliValue()) / float64(req.MilliValue())
	if ratio > float64(enforced.MilliValue())/1000 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, kind, enforced.String(), ratio)
	}
	return nil
}
