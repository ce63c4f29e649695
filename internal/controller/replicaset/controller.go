// Package replicaset is the ReplicaSet controller of
// kube-controller-manager (pkg/controller/replicaset): it keeps the number
// of active pods a ReplicaSet owns at spec.replicas, creating in slow-start
// batches and deleting the pods upstream would delete first, adopts and
// releases pods by selector, and reports replicas, readiness,
// availability (minReadySeconds) and the ReplicaFailure condition.
package replicaset

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
)

// burstReplicas caps the creates or deletes of one sync.
const burstReplicas = 500

// Controller runs ReplicaSets.
type Controller struct {
	ReplicaSets, Pods controller.Store
	Recorder          *events.Recorder
	Log               *slog.Logger
	Now               func() time.Time
	// Workers is the number of ReplicaSets synced at once (default 5,
	// --concurrent-replicaset-syncs).
	Workers int

	loop *controller.Loop
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "replicaset", Workers: cmp.Or(c.Workers, 5), Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.ReplicaSets, Handle: c.loop.QueueObject},
		controller.Source{Store: c.Pods, Handle: func(e controller.Event) { c.podChanged(ctx, e) }})
}

// podChanged queues the ReplicaSets a pod change concerns: its owner (and
// its former owner), or for an orphan those whose selector matches it.
func (c *Controller) podChanged(ctx context.Context, e controller.Event) {
	p := e.Object.(*corev1.Pod)
	queued := false
	for _, obj := range []runtime.Object{e.Object, e.Previous} {
		if obj == nil {
			continue
		}
		if ref := metav1.GetControllerOf(obj.(*corev1.Pod)); ref != nil && ref.Kind == "ReplicaSet" {
			c.loop.Add(controller.Key(p.Namespace, ref.Name))
			queued = true
		}
	}
	if queued || p.DeletionTimestamp != nil {
		return
	}
	// An orphan may be adopted when it appears or its labels change;
	// its status updates concern no ReplicaSet.
	if prev, ok := e.Previous.(*corev1.Pod); ok && labels.Equals(prev.Labels, p.Labels) {
		return
	}
	list, err := c.ReplicaSets.List(ctx, p.Namespace, registry.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.(*appsv1.ReplicaSetList).Items {
		rs := &list.(*appsv1.ReplicaSetList).Items[i]
		if sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
			c.loop.Add(controller.ObjectKey(rs))
		}
	}
}

// sync is syncReplicaSet; it returns when to look again (minReadySeconds).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.ReplicaSets.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	rs := obj.(*appsv1.ReplicaSet)
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return 0, nil // invalid: nothing to do (validation refuses it)
	}
	all, err := controller.ListPods(ctx, c.Pods, ns)
	if err != nil {
		return 0, err
	}
	// Terminating pods count for nothing (terminatingReplicas is behind
	// a gate that is off in 1.34).
	var candidates []metav1.Object
	for _, p := range all {
		if controller.IsPodActive(p) {
			candidates = append(candidates, p)
		}
	}
	claimer := &controller.Claimer{Store: c.Pods, Owner: rs, Selector: sel, Deleting: rs.DeletionTimestamp != nil,
		Ref: controller.NewControllerRef(rs, "apps/v1", "ReplicaSet")}
	claimed, err := claimer.Claim(ctx, candidates)
	if err != nil {
		return 0, err
	}
	pods := make([]*corev1.Pod, len(claimed))
	for i, m := range claimed {
		pods[i] = m.(*corev1.Pod)
	}
	var manageErr error
	if rs.DeletionTimestamp == nil {
		manageErr = c.manage(ctx, rs, pods)
		if manageErr == nil {
			// What it made or removed counts at once.
			if all, err = controller.ListPods(ctx, c.Pods, ns); err != nil {
				return 0, err
			}
			pods = owned(all, rs)
		}
	}
	now := c.Now()
	if err := c.updateStatus(ctx, rs, pods, manageErr, now); err != nil {
		return 0, errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return 0, manageErr
	}
	return controller.NextAvailableCheck(pods, rs.Spec.MinReadySeconds, now), nil
}

// owned are the active pods rs controls.
func owned(all []*corev1.Pod, rs *appsv1.ReplicaSet) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range all {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && controller.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// manage creates or deletes pods to reach spec.replicas (manageReplicas).
func (c *Controller) manage(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod) error {
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	diff := len(pods) - int(want)
	switch {
	case diff < 0:
		n := min(-diff, burstReplicas)
		ref := controller.NewControllerRef(rs, "apps/v1", "ReplicaSet")
		_, err := controller.SlowStartBatch(n, func() error {
			p, err := controller.PodFromTemplate(&rs.Spec.Template, rs, ref)
			if err == nil {
				var out runtime.Object
				if out, err = c.Pods.Create(ctx, rs.Namespace, p, false); err == nil {
					c.Recorder.Eventf(rs, "", events.Normal, "SuccessfulCreate", "Created pod: %s", out.(*corev1.Pod).Name)
					return nil
				}
			}
			if isNamespaceTerminating(err) {
				return nil // the namespace goes, and its pods with it
			}
			c.Recorder.Eventf(rs, "", events.Warning, "FailedCreate", "Error creating: %v", err)
			return err
		})
		return err
	case diff > 0:
		n := min(diff, burstReplicas)
		victims := pods
		if n < len(pods) {
			victims = append([]*corev1.Pod(nil), pods...)
			controller.SortForDeletion(victims, c.Now())
			victims = victims[:n]
		}
		var wg sync.WaitGroup
		errs := make([]error, len(victims))
		for i, p := range victims {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := c.Pods.Delete(ctx, p.Namespace, p.Name, nil, false)
				switch {
				case err == nil:
					c.Recorder.Eventf(rs, "", events.Normal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
				case apierrors.IsNotFound(err):
				default:
					c.Recorder.Eventf(rs, "", events.Warning, "FailedDelete", "Error deleting: %v", err)
					errs[i] = err
				}
			}()
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// isNamespaceTerminating: a create refused because the namespace is being
// deleted.
func isNamespaceTerminating(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	if d == nil {
		return false
	}
	for _, cause := range d.Causes {
		if cause.Type == corev1.NamespaceTerminatingCause {
			return true
		}
	}
	return false
}

// updateStatus writes the status calculateStatus computes, when it
// changed.
func (c *Controller) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet, pods []*corev1.Pod, manageErr error, now time.Time) error {
	st := appsv1.ReplicaSetStatus{Replicas: int32(len(pods)), ObservedGeneration: rs.Generation, Conditions: rs.Status.Conditions}
	tmplLabels := labels.Set(rs.Spec.Template.Labels).AsSelectorPreValidated()
	for _, p := range pods {
		if tmplLabels.Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if controller.IsPodReady(p) {
			st.ReadyReplicas++
			if controller.IsPodAvailable(p, rs.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
	}
	cond := replicaFailure(st.Conditions)
	switch {
	case manageErr != nil && cond == nil:
		reason := "FailedCreate"
		if want := replicas(rs); int(want) < len(pods) {
			reason = "FailedDelete"
		}
		st.Conditions = append(append([]appsv1.ReplicaSetCondition(nil), st.Conditions...), appsv1.ReplicaSetCondition{
			Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: reason,
			Message: manageErr.Error(), LastTransitionTime: metav1.NewTime(now.Truncate(time.Second)),
		})
	case manageErr == nil && cond != nil:
		var kept []appsv1.ReplicaSetCondition
		for _, c := range st.Conditions {
			if c.Type != appsv1.ReplicaSetReplicaFailure {
				kept = append(kept, c)
			}
		}
		st.Conditions = kept
	}
	if apiequality.Semantic.DeepEqual(st, rs.Status) {
		return nil
	}
	return controller.UpdateStatus(ctx, c.ReplicaSets, rs.Namespace, rs.Name, rs.UID, func(o *appsv1.ReplicaSet) { o.Status = st })
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func replicaFailure(conds []appsv1.ReplicaSetCondition) *appsv1.ReplicaSetCondition {
	for i := range conds {
		if conds[i].Type == appsv1.ReplicaSetReplicaFailure {
			return &conds[i]
		}
	}
	return nil
}
