// Package deployment is the Deployment controller of
// kube-controller-manager (pkg/controller/deployment): it rolls a
// Deployment's pod template out through ReplicaSets named
// <deployment>-<pod-template-hash> — RollingUpdate within maxSurge and
// maxUnavailable, or Recreate —, scales them proportionally, keeps
// revisionHistoryLimit old ones for `kubectl rollout undo`, and reports the
// status and the Available and Progressing conditions (with the progress
// deadline) that `kubectl rollout status` reads.
package deployment

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
)

// Controller runs Deployments.
type Controller struct {
	Deployments, ReplicaSets, Pods controller.Store
	Recorder                       *events.Recorder
	Log                            *slog.Logger
	Now                            func() time.Time
	// Workers is the number of Deployments synced at once (default 5).
	Workers int

	loop *controller.Loop
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "deployment", Workers: cmp.Or(c.Workers, 5), Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.Deployments, Handle: c.loop.QueueObject},
		controller.Source{Store: c.ReplicaSets, Handle: func(e controller.Event) { c.replicaSetChanged(ctx, e) }},
		controller.Source{Store: c.Pods, Handle: func(e controller.Event) { c.podChanged(ctx, e) }})
}

// replicaSetChanged queues the ReplicaSet's Deployment (and its former
// one), or for an orphan the Deployments whose selector matches it.
func (c *Controller) replicaSetChanged(ctx context.Context, e controller.Event) {
	rs := e.Object.(*appsv1.ReplicaSet)
	queued := false
	for _, obj := range []runtime.Object{e.Object, e.Previous} {
		if obj == nil {
			continue
		}
		if ref := metav1.GetControllerOf(obj.(*appsv1.ReplicaSet)); ref != nil && ref.Kind == "Deployment" {
			c.loop.Add(controller.Key(rs.Namespace, ref.Name))
			queued = true
		}
	}
	if queued || rs.DeletionTimestamp != nil {
		return
	}
	if prev, ok := e.Previous.(*appsv1.ReplicaSet); ok && labels.Equals(prev.Labels, rs.Labels) {
		return // only a new orphan or new labels may be adopted
	}
	list, err := c.Deployments.List(ctx, rs.Namespace, registry.ListOptions{})
	if err != nil {
		return
	}
	for i := range list.(*appsv1.DeploymentList).Items {
		d := &list.(*appsv1.DeploymentList).Items[i]
		if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(rs.Labels)) {
			c.loop.Add(controller.ObjectKey(d))
		}
	}
}

// podChanged queues the Deployment of a deleted pod's ReplicaSet: a
// Recreate rollout waits for the old pods to be gone.
func (c *Controller) podChanged(ctx context.Context, e controller.Event) {
	p := e.Object.(*corev1.Pod)
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" || (p.DeletionTimestamp == nil && e.Type != "DELETED") {
		return
	}
	obj, err := c.ReplicaSets.Get(ctx, p.Namespace, ref.Name)
	if err != nil {
		return
	}
	if dref := metav1.GetControllerOf(obj.(*appsv1.ReplicaSet)); dref != nil && dref.Kind == "Deployment" {
		c.loop.Add(controller.Key(p.Namespace, dref.Name))
	}
}

// sync is syncDeployment; it returns when to look again (the progress
// deadline).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.Deployments.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	d := obj.(*appsv1.Deployment).DeepCopy()
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return 0, nil
	}
	if sel.Empty() {
		c.Recorder.Eventf(d, "", events.Warning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return 0, c.writeStatus(ctx, d)
		}
		return 0, nil
	}
	r := &rollout{c: c, d: d, now: c.Now()}
	if r.rss, err = c.claimReplicaSets(ctx, d, sel); err != nil {
		return 0, err
	}
	switch {
	case d.DeletionTimestamp != nil:
		return 0, r.syncStatusOnly(ctx)
	}
	if err := r.checkPausedConditions(ctx); err != nil {
		return 0, err
	}
	if d.Spec.Paused {
		return 0, r.scaleOnly(ctx)
	}
	scaling, err := r.isScalingEvent(ctx)
	if err != nil {
		return 0, err
	}
	if scaling {
		return 0, r.scaleOnly(ctx)
	}
	if d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		pods, err := c.podsByReplicaSet(ctx, d.Namespace, r.rss)
		if err != nil {
			return 0, err
		}
		err = r.recreate(ctx, pods)
		return r.requeue, err
	}
	err = r.rollingUpdate(ctx)
	return r.requeue, err
}

// claimReplicaSets adopts and releases ReplicaSets by the Deployment's
// selector and returns those it owns.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment, sel labels.Selector) ([]*appsv1.ReplicaSet, error) {
	list, err := c.ReplicaSets.List(ctx, d.Namespace, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	items := list.(*appsv1.ReplicaSetList).Items
	candidates := make([]metav1.Object, len(items))
	for i := range items {
		candidates[i] = &items[i]
	}
	claimer := &controller.Claimer{Store: c.ReplicaSets, Owner: d, Selector: sel, Deleting: d.DeletionTimestamp != nil,
		Ref: controller.NewControllerRef(d, "apps/v1", "Deployment")}
	owned, err := claimer.Claim(ctx, candidates)
	out := make([]*appsv1.ReplicaSet, len(owned))
	for i, m := range owned {
		out[i] = m.(*appsv1.ReplicaSet)
	}
	return out, err
}

// podsByReplicaSet are the pods of each ReplicaSet, terminating ones
// included.
func (c *Controller) podsByReplicaSet(ctx context.Context, ns string, rss []*appsv1.ReplicaSet) (map[types.UID][]*corev1.Pod, error) {
	pods, err := controller.ListPods(ctx, c.Pods, ns)
	if err != nil {
		return nil, err
	}
	uids := map[types.UID]bool{}
	for _, rs := range rss {
		uids[rs.UID] = true
	}
	out := map[types.UID][]*corev1.Pod{}
	for _, p := range pods {
		if ref := metav1.GetControllerOf(p); ref != nil && uids[ref.UID] {
			out[ref.UID] = append(out[ref.UID], p)
		}
	}
	return out, nil
}

// writeStatus stores d's status and revision annotation.
func (c *Controller) writeStatus(ctx context.Context, d *appsv1.Deployment) error {
	out, err := c.Deployments.Update(ctx, d.Namespace, d.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*appsv1.Deployment).DeepCopy()
		if o.UID != d.UID {
			return nil, apierrors.NewNotFound(c.Deployments.Resource().GroupResource(), d.Name)
		}
		o.Status = *d.Status.DeepCopy()
		if rev, ok := d.Annotations[RevisionAnnotation]; ok {
			if o.Annotations == nil {
				o.Annotations = map[string]string{}
			}
			o.Annotations[RevisionAnnotation] = rev
		}
		return o, nil
	}, registry.UpdateOptions{Status: true})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		d.ResourceVersion = out.(*appsv1.Deployment).ResourceVersion
	}
	return err
}

// errCollision asks for a retry after the collision count went up.
var errCollision = errors.New("replica set name collision")
