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
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

	queue workqueue.TypedRateLimitingInterface[string]
	ttl   workqueue.TypedRateLimitingInterface[string]

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
	if c.Workers == 0 {
		c.Workers = 5
	}
	c.backoff = map[types.UID]backoffRecord{}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, time.Minute),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job"})
	c.ttl = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "ttl_jobs_to_delete"})
	var wg sync.WaitGroup
	goRun := func(fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn()
		}()
	}
	goRun(func() {
		controller.Watch(ctx, c.Jobs, c.Log, func(e controller.Event) {
			j := e.Object.(*batchv1.Job)
			if e.Type == "DELETED" {
				c.mu.Lock()
				delete(c.backoff, j.UID)
				c.mu.Unlock()
			}
			c.queue.Add(controller.ObjectKey(j))
			c.ttl.Add(controller.ObjectKey(j))
		})
	})
	goRun(func() { controller.Watch(ctx, c.Pods, c.Log, func(e controller.Event) { c.podChanged(e) }) })
	for range c.Workers {
		goRun(func() {
			for c.next(ctx) {
			}
		})
	}
	goRun(func() {
		for c.nextTTL(ctx) {
		}
	})
	<-ctx.Done()
	c.queue.ShutDown()
	c.ttl.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) podChanged(e controller.Event) {
	p := e.Object.(*corev1.Pod)
	for _, obj := range []runtime.Object{e.Object, e.Previous} {
		if obj == nil {
			continue
		}
		if ref := metav1.GetControllerOf(obj.(*corev1.Pod)); ref != nil && ref.Kind == "Job" {
			c.queue.Add(controller.Key(p.Namespace, ref.Name))
		}
	}
	// A pod whose Job may be gone (deleted in the background, or the pod
	// orphaned) is looked at on its own.
	if e.Type != "DELETED" && hasTrackingFinalizer(p) && (p.DeletionTimestamp != nil || metav1.GetControllerOf(p) == nil) {
		c.queue.Add(podKeyPrefix + controller.ObjectKey(p))
	}
}

func (c *Controller) next(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	var requeue time.Duration
	var err error
	if pk, ok := strings.CutPrefix(key, podKeyPrefix); ok {
		err = c.releaseOrphan(ctx, pk)
	} else {
		requeue, err = c.sync(ctx, key)
	}
	switch {
	case err != nil:
		c.Log.Debug("syncing job", "job", key, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if requeue > 0 {
			c.queue.AddAfter(key, requeue)
		}
	}
	return true
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
			c.queue.Add(controller.Key(ns, ref.Name))
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

// nextTTL deletes a finished Job whose ttlSecondsAfterFinished has passed
// (the ttl-after-finished controller), or looks again when it will.
func (c *Controller) nextTTL(ctx context.Context) bool {
	key, quit := c.ttl.Get()
	if quit {
		return false
	}
	defer c.ttl.Done(key)
	ns, name := controller.SplitKey(key)
	obj, err := c.Jobs.Get(ctx, ns, name)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			c.ttl.AddRateLimited(key)
		}
		return true
	}
	j := obj.(*batchv1.Job)
	finishedAt, ok := finishTime(j)
	if j.Spec.TTLSecondsAfterFinished == nil || !ok || j.DeletionTimestamp != nil {
		c.ttl.Forget(key)
		return true
	}
	expire := finishedAt.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if left := expire.Sub(c.Now()); left > 0 {
		c.ttl.AddAfter(key, left)
		return true
	}
	fg, uid := metav1.DeletePropagationForeground, j.UID
	_, _, err = c.Jobs.Delete(ctx, ns, name, &metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &uid}}, false)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		c.ttl.AddRateLimited(key)
		return true
	}
	c.ttl.Forget(key)
	return true
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
