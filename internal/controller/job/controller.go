// Package job is the Job controller of kube-controller-manager
// (pkg/controller/job) and its TTL-after-finished controller: it runs a
// Job's pods to completion — NonIndexed or Indexed, parallelism,
// completions, backoffLimit with the exponential pod-failure back-off,
// activeDeadlineSeconds, suspend —, counts finished pods through the
// batch.kubernetes.io/job-tracking finalizer and
// status.uncountedTerminatedPods, and reports the SuccessCriteriaMet →
// Complete and FailureTarget → Failed conditions with upstream's reasons
// and messages. Finished Jobs with ttlSecondsAfterFinished are deleted in
// the foreground when it passes.
package job

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
)

// Pod-failure back-off (DefaultJobPodFailureBackOff, MaxJobPodFailureBackOff).
const (
	failureBackOff    = 10 * time.Second
	maxFailureBackOff = 10 * time.Minute
)

// Controller runs Jobs.
type Controller struct {
	Jobs, Pods controller.Store
	Recorder   *events.Recorder
	Log        *slog.Logger
	Now        func() time.Time
	// Workers is the number of Jobs synced at once (default 5).
	Workers int

	loop, ttl *controller.Loop

	mu sync.Mutex
	// backoff is each Job's failures since its last success and when
	// the last one failed (upstream's podBackoffStore), by Job UID.
	backoff map[types.UID]backoffRecord
}

type backoffRecord struct {
	failures    int
	lastFailure time.Time
}

// podKeyPrefix marks queue keys of pods whose tracking finalizer may have
// to go (their Job is gone or finished).
const podKeyPrefix = "pod:"

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.backoff = map[types.UID]backoffRecord{}
	c.loop = &controller.Loop{Name: "job", Workers: cmp.Or(c.Workers, 5), Log: c.Log, Sync: c.syncKey,
		RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute)}
	c.ttl = &controller.Loop{Name: "ttl_jobs_to_delete", Log: c.Log, Sync: c.syncTTL}
	errs := make(chan error, 1)
	go func() { errs <- c.ttl.Run(ctx) }()
	err := c.loop.Run(ctx,
		controller.Source{Store: c.Jobs, Handle: func(e controller.Event) {
			j := e.Object.(*batchv1.Job)
			if e.Type == "DELETED" {
				c.mu.Lock()
				delete(c.backoff, j.UID)
				c.mu.Unlock()
			}
			c.loop.Add(controller.ObjectKey(j))
			c.ttl.Add(controller.ObjectKey(j))
		}},
		controller.Source{Store: c.Pods, Handle: func(e controller.Event) { c.podChanged(ctx, e) }})
	return cmp.Or(err, <-errs)
}

// syncKey syncs a Job, or a pod whose Job may be gone.
func (c *Controller) syncKey(ctx context.Context, key string) (time.Duration, error) {
	if pk, ok := strings.CutPrefix(key, podKeyPrefix); ok {
		return 0, c.releaseOrphan(ctx, pk)
	}
	return c.sync(ctx, key)
}

// podChanged queues the Jobs a pod change concerns: its owner (and former
// owner), or for an orphan those whose selector matches it (to adopt it).
func (c *Controller) podChanged(ctx context.Context, e controller.Event) {
	p := e.Object.(*corev1.Pod)
	queued := false
	for _, obj := range []runtime.Object{e.Object, e.Previous} {
		if obj == nil {
			continue
		}
		if ref := metav1.GetControllerOf(obj.(*corev1.Pod)); ref != nil && ref.Kind == "Job" {
			c.loop.Add(controller.Key(p.Namespace, ref.Name))
			queued = true
		}
	}
	if prev, ok := e.Previous.(*corev1.Pod); !queued && e.Type != "DELETED" && p.DeletionTimestamp == nil &&
		metav1.GetControllerOf(p) == nil && (!ok || !labels.Equals(prev.Labels, p.Labels)) {
		if list, err := c.Jobs.List(ctx, p.Namespace, registry.ListOptions{}); err == nil {
			for i := range list.(*batchv1.JobList).Items {
				j := &list.(*batchv1.JobList).Items[i]
				if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil && j.Spec.Selector != nil && !sel.Empty() && sel.Matches(labels.Set(p.Labels)) {
					c.loop.Add(controller.ObjectKey(j))
				}
			}
		}
	}
	// A pod whose Job may be gone (deleted in the background, or the pod
	// orphaned) is looked at on its own.
	if e.Type != "DELETED" && hasTrackingFinalizer(p) && (p.DeletionTimestamp != nil || metav1.GetControllerOf(p) == nil) {
		c.loop.Add(podKeyPrefix + controller.ObjectKey(p))
	}
}

// releaseOrphan removes the tracking finalizer of a pod whose Job is gone
// (or which no Job owns any more), so it can go; the Job's own sync deals
// with the pods of a Job that exists.
func (c *Controller) releaseOrphan(ctx context.Context, key string) error {
	ns, name := controller.SplitKey(key)
	obj, err := c.Pods.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	p := obj.(*corev1.Pod)
	if ref := metav1.GetControllerOf(p); ref != nil {
		j, err := c.Jobs.Get(ctx, ns, ref.Name)
		switch {
		case err == nil && j.(*batchv1.Job).UID == ref.UID:
			c.loop.Add(controller.Key(ns, ref.Name))
			return nil
		case err != nil && !apierrors.IsNotFound(err):
			return err
		}
	}
	return c.removeFinalizer(ctx, p)
}

func hasTrackingFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == batchv1.JobTrackingFinalizer {
			return true
		}
	}
	return false
}

// removeFinalizer removes the tracking finalizer from a pod.
func (c *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	if !hasTrackingFinalizer(p) {
		return nil
	}
	_, err := c.Pods.Update(ctx, p.Namespace, p.Name, func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.Pod).DeepCopy()
		if o.UID != p.UID {
			return nil, apierrors.NewNotFound(c.Pods.Resource().GroupResource(), p.Name)
		}
		var kept []string
		for _, f := range o.Finalizers {
			if f != batchv1.JobTrackingFinalizer {
				kept = append(kept, f)
			}
		}
		o.Finalizers = kept
		return o, nil
	}, registry.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// syncTTL deletes a finished Job whose ttlSecondsAfterFinished has
// passed (the ttl-after-finished controller), or looks again when it
// will.
func (c *Controller) syncTTL(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.Jobs.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	j := obj.(*batchv1.Job)
	finishedAt, ok := finishTime(j)
	if j.Spec.TTLSecondsAfterFinished == nil || !ok || j.DeletionTimestamp != nil {
		return 0, nil
	}
	expire := finishedAt.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if left := expire.Sub(c.Now()); left > 0 {
		return left, nil
	}
	fg, uid := metav1.DeletePropagationForeground, j.UID
	_, _, err = c.Jobs.Delete(ctx, ns, name, &metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}}, false)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, err
	}
	return 0, nil
}

// finishTime is when the Job got its Complete or Failed condition.
func finishTime(j *batchv1.Job) (time.Time, bool) {
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return cond.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}
