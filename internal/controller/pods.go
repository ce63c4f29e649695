package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
)

// IsPodActive: not Succeeded, not Failed, not being deleted
// (controller.IsPodActive).
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// readyCondition is the pod's Ready condition (nil: none).
func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady: the Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable: ready for at least minReadySeconds (podutil.IsPodAvailable).
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := readyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(d).After(now)
}

// NextAvailableCheck is when the first ready but not yet available pod
// becomes available (zero: none), for a requeue.
func NextAvailableCheck(pods []*corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	var next time.Duration
	for _, p := range pods {
		c := readyCondition(p)
		if minReadySeconds == 0 || c == nil || c.Status != corev1.ConditionTrue || IsPodAvailable(p, minReadySeconds, now) {
			continue
		}
		left := c.LastTransitionTime.Add(time.Duration(minReadySeconds) * time.Second).Sub(now)
		if next == 0 || left < next {
			next = left
		}
	}
	return next
}

// PodFromTemplate is a pod to create from a template for its controller
// (GetPodFromTemplate): the template's labels, annotations, finalizers and
// spec, the generated name "<owner>-", and the controller reference.
func PodFromTemplate(t *corev1.PodTemplateSpec, owner metav1.Object, ref metav1.OwnerReference) (*corev1.Pod, error) {
	if len(t.Labels) == 0 {
		return nil, fmt.Errorf("unable to create pods, no labels")
	}
	prefix := owner.GetName() + "-"
	if len(apimachineryvalidation.NameIsDNSSubdomain(prefix, true)) != 0 {
		prefix = owner.GetName()
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: prefix, Namespace: owner.GetNamespace(),
			Labels: copyMap(t.Labels), Annotations: copyMap(t.Annotations), Finalizers: slices.Clone(t.Finalizers),
			OwnerReferences: []metav1.OwnerReference{ref},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	return p, nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ListPods lists the pods of ns.
func ListPods(ctx context.Context, pods Store, ns string) ([]*corev1.Pod, error) {
	list, err := pods.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	items := list.(*corev1.PodList).Items
	out := make([]*corev1.Pod, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	return out, nil
}

// Claimer adopts and releases the objects of one owner
// (BaseControllerRefManager.ClaimObject): it keeps those it owns that its
// selector matches, adopts orphans it matches (unless either side is
// being deleted) and releases those it owns but no longer matches.
type Claimer struct {
	Store    Store
	Owner    metav1.Object
	Ref      metav1.OwnerReference
	Selector labels.Selector
	// Deleting: the owner is being deleted (no adoption, no release).
	Deleting bool
	// Finalizers are added to what is adopted (a Job's tracking
	// finalizer), as PodControllerRefManager's.
	Finalizers []string
}

// Claim returns the objects of candidates the owner owns after claiming.
func (c *Claimer) Claim(ctx context.Context, candidates []metav1.Object) ([]metav1.Object, error) {
	var owned []metav1.Object
	var errs []error
	for _, obj := range candidates {
		ref := metav1.GetControllerOf(obj)
		matches := c.Selector.Matches(labels.Set(obj.GetLabels()))
		switch {
		case ref != nil && ref.UID != c.Owner.GetUID():
			continue // another controller's
		case ref != nil && matches:
			owned = append(owned, obj)
		case ref != nil:
			if c.Deleting {
				owned = append(owned, obj)
				continue
			}
			if err := c.release(ctx, obj); err != nil {
				errs = append(errs, err)
			}
		case matches && !c.Deleting && obj.GetDeletionTimestamp() == nil:
			adopted, err := c.adopt(ctx, obj)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if adopted != nil {
				owned = append(owned, adopted)
			}
		}
	}
	return owned, joinErrs(errs)
}

func (c *Claimer) adopt(ctx context.Context, obj metav1.Object) (metav1.Object, error) {
	out, err := c.Store.Update(ctx, obj.GetNamespace(), obj.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		m := cur.DeepCopyObject()
		a, _ := asMeta(m)
		if a.GetUID() != obj.GetUID() || metav1.GetControllerOf(a) != nil || a.GetDeletionTimestamp() != nil {
			return nil, errGone
		}
		a.SetOwnerReferences(append(a.GetOwnerReferences(), c.Ref))
		for _, f := range c.Finalizers {
			if !slices.Contains(a.GetFinalizers(), f) {
				a.SetFinalizers(append(a.GetFinalizers(), f))
			}
		}
		return m, nil
	}, registry.UpdateOptions{})
	if errors.Is(err, errGone) || apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a, _ := asMeta(out)
	return a, nil
}

func (c *Claimer) release(ctx context.Context, obj metav1.Object) error {
	_, err := c.Store.Update(ctx, obj.GetNamespace(), obj.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		m := cur.DeepCopyObject()
		a, _ := asMeta(m)
		if a.GetUID() != obj.GetUID() {
			return nil, errGone
		}
		a.SetOwnerReferences(slices.DeleteFunc(a.GetOwnerReferences(), func(r metav1.OwnerReference) bool { return r.UID == c.Owner.GetUID() }))
		return m, nil
	}, registry.UpdateOptions{})
	if errors.Is(err, errGone) || apierrors.IsNotFound(err) || apierrors.IsInvalid(err) {
		return nil
	}
	return err
}
