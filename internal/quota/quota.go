// Package quota enforces ResourceQuota as kube-apiserver's ResourceQuota
// admission plugin and kube-controller-manager's resourcequota controller
// do: a create in a namespace with quotas is admitted only if the usage it
// adds keeps every matching quota within its hard limits, and each quota's
// status (hard, used) follows what the namespace holds.
//
// Everything runs in one process, so where upstream keeps usage in the
// quotas' status and guards it with compare-and-swap, peapod serializes
// admission per namespace and computes the usage from the objects stored:
// quotas are never exceeded, whatever the concurrency, and a quota is never
// "status unknown" (upstream refuses creates until its controller first
// computed a new quota's usage).
package quota

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Quota is the ResourceQuota admission plugin and controller.
type Quota struct {
	// Quotas is the resourcequotas store.
	Quotas *registry.Store
	// Counted are the stores of the namespaced resources whose objects a
	// quota may count (pods among them), by resource key (Resource.Key:
	// "pods", "deployments.apps").
	Counted map[string]*registry.Store
	Now     func() time.Time
	Log     *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per namespace
}

// lock serializes admission and recalculation in a namespace.
func (q *Quota) lock(ns string) func() {
	q.mu.Lock()
	if q.locks == nil {
		q.locks = map[string]*sync.Mutex{}
	}
	l, ok := q.locks[ns]
	if !ok {
		l = &sync.Mutex{}
		q.locks[ns] = l
	}
	q.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Mutate does nothing: quota admission only validates.
func (q *Quota) Mutate(context.Context, *registry.Resource, string, runtime.Object) error { return nil }

// Validate admits a create: every quota of the namespace the object
// counts against must keep its usage within hard once the object is
// added. The namespace stays locked until the object is stored or
// refused; once stored, the quotas' status.used include it.
func (q *Quota) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	if !res.Namespaced || q.Counted[res.Key()] == nil {
		return nil, nil
	}
	return q.admit(ctx, res, ns, objectName(obj), q.usageOf(res, obj), obj)
}

// ValidateUpdate admits a pod resize (the pods/resize subresource) or a
// claim's expansion, as upstream's quota admission evaluates an UPDATE of
// pods and claims: what the object charges after it less what it charged
// before, each resource's increase only (SubtractWithNonNegativeResult),
// must keep every quota that counts it within hard; an update that charges
// nothing more passes. A pod's usage is counted from the spec (upstream
// takes the larger of the spec and the resources the node reports, so a
// decrease frees quota only once it is actuated; here at once).
func (q *Quota) ValidateUpdate(ctx context.Context, res *registry.Resource, ns string, obj, old runtime.Object) (func(bool), error) {
	if q.Counted[res.Key()] == nil {
		return nil, nil
	}
	switch obj.(type) {
	case *corev1.Pod, *corev1.PersistentVolumeClaim:
	default:
		return nil, nil
	}
	delta := corev1.ResourceList{}
	before := q.usageOf(res, old)
	for name, v := range q.usageOf(res, obj) {
		d := v.DeepCopy()
		d.Sub(before[name])
		if d.Sign() > 0 {
			delta[name] = d
		}
	}
	if len(delta) == 0 {
		return nil, nil
	}
	return q.admit(ctx, res, ns, objectName(obj), delta, obj)
}

// admit checks delta, what obj, called name, charges anew, against the
// namespace's quotas. The namespace stays locked until the write is stored
// or refused; once stored, the quotas' status.used include delta.
func (q *Quota) admit(ctx context.Context, res *registry.Resource, ns, name string, delta corev1.ResourceList, obj runtime.Object) (func(bool), error) {
	quotas, err := q.list(ctx, ns)
	if err != nil {
		return nil, err
	}
	if !concerned(quotas, delta, obj) {
		return nil, nil // no quota here limits what this object charges
	}
	unlock := q.lock(ns)
	// Listed again under the lock: a quota made meanwhile counts.
	if quotas, err = q.list(ctx, ns); err != nil {
		unlock()
		return nil, err
	}
	used, err := q.usage(ctx, ns, quotas)
	if err != nil {
		unlock()
		return nil, err
	}
	// As upstream, a quota's missing requests or limits come before any
	// quota's excess.
	for _, quota := range quotas {
		if pod, ok := obj.(*corev1.Pod); ok && matches(quota, pod) {
			if msg := missingResources(quota, pod); msg != "" {
				unlock()
				return nil, apierrors.NewForbidden(res.GroupResource(), name, fmt.Errorf("failed quota: %s: %s", quota.Name, msg))
			}
		}
	}
	for _, quota := range quotas {
		if !matches(quota, obj) {
			continue
		}
		if msg := exceeded(quota, used[quota.Name], restrict(delta, used[quota.Name])); msg != "" {
			unlock()
			return nil, apierrors.NewForbidden(res.GroupResource(), name, fmt.Errorf("exceeded quota: %s, %s", quota.Name, msg))
		}
	}
	return func(stored bool) {
		defer unlock()
		if !stored {
			return
		}
		for _, quota := range quotas {
			u := used[quota.Name]
			if matches(quota, obj) {
				u = add(u, restrict(delta, u))
			}
			q.writeStatus(ctx, quota, u)
		}
	}, nil
}

// usageOf is what obj, of resource res, charges.
func (q *Quota) usageOf(res *registry.Resource, obj runtime.Object) corev1.ResourceList {
	switch o := obj.(type) {
	case *corev1.Pod:
		return podUsage(o, q.Now())
	case *corev1.PersistentVolumeClaim:
		return claimUsage(o)
	}
	return objectUsage(res.Name, res.Group)
}

// concerned reports whether any quota limits something the object
// charges (or, for a pod, requires its containers to state resources).
func concerned(quotas []*corev1.ResourceQuota, delta corev1.ResourceList, obj runtime.Object) bool {
	for _, quota := range quotas {
		if !matches(quota, obj) {
			continue
		}
		if len(restrict(delta, quota.Spec.Hard)) > 0 {
			return true
		}
		if _, isPod := obj.(*corev1.Pod); isPod {
			for _, key := range computeKeys {
				if _, ok := quota.Spec.Hard[key]; ok {
					return true
				}
			}
		}
	}
	return false
}

// matches reports whether a quota counts an object: scoped quotas count
// only the pods, or the claims (VolumeAttributesClass), their scopes
// select.
func matches(quota *corev1.ResourceQuota, obj runtime.Object) bool {
	if len(scopeSelectors(quota)) == 0 {
		return true
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return o != nil && podMatchesScopes(quota, o)
	case *corev1.PersistentVolumeClaim:
		return o != nil && claimMatchesScopes(quota, o)
	}
	return false
}

// list returns the namespace's quotas.
func (q *Quota) list(ctx context.Context, ns string) ([]*corev1.ResourceQuota, error) {
	obj, err := q.Quotas.List(ctx, ns, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	list := obj.(*corev1.ResourceQuotaList)
	out := make([]*corev1.ResourceQuota, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// usage computes each quota's usage from the objects the namespace holds:
// an entry for every hard key (zero where nothing counts).
func (q *Quota) usage(ctx context.Context, ns string, quotas []*corev1.ResourceQuota) (map[string]corev1.ResourceList, error) {
	objects := map[string][]runtime.Object{}
	for name, st := range q.Counted {
		obj, err := st.List(ctx, ns, registry.ListOptions{})
		if err != nil {
			return nil, err
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		objects[name] = items
	}
	now := q.Now()
	counted := map[string]bool{}
	for name := range q.Counted {
		counted[name] = true
	}
	out := map[string]corev1.ResourceList{}
	for _, quota := range quotas {
		u := corev1.ResourceList{}
		for name := range quota.Spec.Hard {
			if tracked(name, counted) {
				u[name] = resource.MustParse("0")
			}
		}
		for resName, items := range objects {
			for _, it := range items {
				if !matches(quota, it) {
					continue
				}
				var charge corev1.ResourceList
				switch o := it.(type) {
				case *corev1.Pod:
					charge = podUsage(o, now)
				case *corev1.PersistentVolumeClaim:
					charge = claimUsage(o)
				default:
					r := q.Counted[resName].Resource()
					charge = objectUsage(r.Name, r.Group)
				}
				u = add(u, restrict(charge, u))
			}
		}
		out[quota.Name] = u
	}
	return out, nil
}

// writeStatus sets a quota's status to its hard limits and used, unless
// it says so already.
func (q *Quota) writeStatus(ctx context.Context, quota *corev1.ResourceQuota, used corev1.ResourceList) {
	_, err := q.Quotas.Update(ctx, quota.Namespace, quota.Name, func(cur runtime.Object) (runtime.Object, error) {
		rq := cur.(*corev1.ResourceQuota)
		st := corev1.ResourceQuotaStatus{Hard: rq.Spec.Hard.DeepCopy(), Used: corev1.ResourceList{}}
		for name := range rq.Spec.Hard {
			if u, ok := used[name]; ok {
				st.Used[name] = u
			}
		}
		if apiequality.Semantic.DeepEqual(st, rq.Status) {
			return nil, storage.ErrNoChange
		}
		rq = rq.DeepCopy()
		rq.ResourceVersion = ""
		rq.Status = st
		return rq, nil
	}, registry.UpdateOptions{Status: true})
	if err != nil && !apierrors.IsNotFound(err) && !errors.Is(err, storage.ErrNoChange) {
		q.Log.Warn("updating quota status", "quota", quota.Namespace+"/"+quota.Name, "err", err)
	}
}

// restrict keeps the entries of u that hard limits.
func restrict(u, hard corev1.ResourceList) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, v := range u {
		if _, ok := hard[name]; ok {
			out[name] = v
		}
	}
	return out
}

// add returns a + b.
func add(a, b corev1.ResourceList) corev1.ResourceList {
	out := a.DeepCopy()
	if out == nil {
		out = corev1.ResourceList{}
	}
	for name, v := range b {
		cur := out[name]
		cur.Add(v)
		out[name] = cur
	}
	return out
}

// exceeded checks used + delta against the quota's hard limits, for the
// resources delta charges, and says what goes over in upstream's words:
// "requested: k=v,…, used: k=v,…, limited: k=v,…".
func exceeded(quota *corev1.ResourceQuota, used, delta corev1.ResourceList) string {
	var names []string
	for name, d := range delta {
		hard, limited := quota.Spec.Hard[name]
		if !limited {
			continue
		}
		next := used[name].DeepCopy()
		next.Add(d)
		if next.Cmp(hard) > 0 {
			names = append(names, string(name))
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	list := func(l corev1.ResourceList) string {
		parts := make([]string, 0, len(names))
		for _, n := range names {
			v := l[corev1.ResourceName(n)]
			parts = append(parts, n+"="+v.String())
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprintf("requested: %s, used: %s, limited: %s", list(delta), list(used), list(quota.Spec.Hard))
}

// computeKeys are the hard keys every container must then say something
// about (the pod evaluator's Constraints).
var computeKeys = []corev1.ResourceName{
	corev1.ResourceCPU, corev1.ResourceMemory,
	corev1.ResourceRequestsCPU, corev1.ResourceRequestsMemory,
	corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory,
}

// missingResources is the pod evaluator's Constraints: when a quota limits
// cpu or memory requests or limits, every container and init container
// must state them: "must specify limits.cpu for: app,init; …". A pod with
// pod-level resources (spec.resources) is exempt, as upstream: its
// containers need not state any.
func missingResources(quota *corev1.ResourceQuota, pod *corev1.Pod) string {
	if resourcehelper.IsPodLevelResourcesSet(pod) {
		return ""
	}
	missing := map[corev1.ResourceName][]string{}
	containers := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, key := range computeKeys {
		if _, ok := quota.Spec.Hard[key]; !ok {
			continue
		}
		list, name := corev1.ResourceList(nil), key
		switch key {
		case corev1.ResourceLimitsCPU, corev1.ResourceLimitsMemory:
			name = corev1.ResourceName(strings.TrimPrefix(string(key), "limits."))
		default:
			name = corev1.ResourceName(strings.TrimPrefix(string(key), "requests."))
		}
		for _, c := range containers {
			list = c.Resources.Requests
			if strings.HasPrefix(string(key), "limits.") {
				list = c.Resources.Limits
			}
			if _, ok := list[name]; !ok {
				missing[key] = append(missing[key], c.Name)
			}
		}
	}
	if len(missing) == 0 {
		return ""
	}
	keys := make([]string, 0, len(missing))
	for k := range missing {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		names := missing[corev1.ResourceName(k)]
		sort.Strings(names)
		parts = append(parts, k+" for: "+strings.Join(names, ","))
	}
	return "must specify " + strings.Join(parts, "; ")
}

func objectName(obj runtime.Object) string {
	a, err := meta.Accessor(obj)
	if err != nil {
		return "Unknown"
	}
	switch {
	case a.GetName() != "":
		return a.GetName()
	case a.GetGenerateName() != "":
		return a.GetGenerateName()
	}
	return "Unknown"
}
