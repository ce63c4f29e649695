package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// Store is what the scheduler needs of the pods and nodes stores;
// *registry.Store implements it.
type Store interface {
	Get(ctx context.Context, ns, name string) (runtime.Object, error)
	List(ctx context.Context, ns string, opts registry.ListOptions) (runtime.Object, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
	Watch(ctx context.Context, ns string, opts registry.ListOptions) (*storage.Watcher, error)
}

// Reason and event of pods that do not fit (pkg/scheduler).
const (
	ReasonUnschedulable = corev1.PodReasonUnschedulable
	EventFailed         = "FailedScheduling"
	noNodesMessage      = "no nodes available to schedule pods"
)

// Scheduler places pods on one node.
type Scheduler struct {
	NodeName string
	Pods     Store
	Nodes    Store
	// Recorder reports FailedScheduling as default-scheduler.
	Recorder *events.Recorder
	Log      *slog.Logger
	Now      func() time.Time

	// mu orders decisions with the writes that carry them out, so two
	// pods never both take the last room.
	mu sync.Mutex
}

// Lock takes the scheduling lock until the returned function is called;
// a pod create holds it from its decision to its commit.
func (s *Scheduler) Lock() func() {
	s.mu.Lock()
	return s.mu.Unlock
}

// Decide, called with the lock held, reports whether pod fits the node
// next to the pods already bound to it, and otherwise kube-scheduler's
// message for the PodScheduled condition and the FailedScheduling event.
func (s *Scheduler) Decide(ctx context.Context, pod *corev1.Pod) (bool, string) {
	obj, err := s.Nodes.Get(ctx, "", s.NodeName)
	if err != nil {
		return false, noNodesMessage
	}
	node := obj.(*corev1.Node)
	bound, err := s.bound(ctx, pod)
	if err != nil {
		s.Log.Warn("listing the node's pods", "err", err)
		return false, fitMessage(1, []string{err.Error()})
	}
	reasons := filter(pod, node, bound)
	if len(reasons) == 0 {
		return true, ""
	}
	return false, fitMessage(1, reasons)
}

// bound lists the pods bound to the node that still hold resources: not
// finished, and not pod itself.
func (s *Scheduler) bound(ctx context.Context, pod *corev1.Pod) ([]*corev1.Pod, error) {
	list, err := s.Pods.List(ctx, "", registry.ListOptions{Fields: fields.OneTermEqualSelector("spec.nodeName", s.NodeName)})
	if err != nil {
		return nil, err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var out []*corev1.Pod
	for _, it := range items {
		p := it.(*corev1.Pod)
		if p.UID == pod.UID || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// Run retries the pods left unscheduled whenever something that could
// make room or change the node happens (a pod finishing or going, a pod
// or node changing), until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	pods, err := s.Pods.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching pods: %w", err)
	}
	defer func() { pods.Stop() }()
	nodes, err := s.Nodes.Watch(ctx, "", registry.ListOptions{})
	if err != nil {
		return fmt.Errorf("watching nodes: %w", err)
	}
	defer func() { nodes.Stop() }()
	// A periodic pass too, as the scheduler's unschedulable queue
	// flushes (every 30 s upstream; sooner here, it is cheap).
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-pods.ResultChan():
			if !ok {
				if pods, err = s.Pods.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching pods: %w", err)
				}
				continue
			}
			if !worthRetrying(e) {
				continue
			}
		case _, ok := <-nodes.ResultChan():
			if !ok {
				if nodes, err = s.Nodes.Watch(ctx, "", registry.ListOptions{}); err != nil {
					return fmt.Errorf("watching nodes: %w", err)
				}
				continue
			}
		case <-tick.C:
		}
		s.retry(ctx)
	}
}

// worthRetrying: a bound pod going or finishing frees room; an unbound
// one appearing or changing (its gates, tolerations) may now fit.
func worthRetrying(e storage.Event) bool {
	pod, ok := e.Object.(*corev1.Pod)
	switch {
	case !ok:
		return false
	case pod.Spec.NodeName == "":
		return e.Type != watch.Deleted
	case e.Type == watch.Deleted:
		return true
	}
	prev, _ := e.Prev.(*corev1.Pod)
	finished := func(p *corev1.Pod) bool {
		return p != nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed)
	}
	return finished(pod) && !finished(prev)
}

// retry tries every unscheduled, ungated pod, oldest first.
func (s *Scheduler) retry(ctx context.Context) {
	list, err := s.Pods.List(ctx, "", registry.ListOptions{Fields: fields.OneTermEqualSelector("spec.nodeName", "")})
	if err != nil {
		return
	}
	items, _ := meta.ExtractList(list)
	pending := make([]*corev1.Pod, 0, len(items))
	for _, it := range items {
		p := it.(*corev1.Pod)
		if len(p.Spec.SchedulingGates) == 0 && p.DeletionTimestamp == nil {
			pending = append(pending, p)
		}
	}
	sort.Slice(pending, func(i, j int) bool {
		return pending[i].CreationTimestamp.Before(&pending[j].CreationTimestamp)
	})
	for _, p := range pending {
		if err := s.schedule(ctx, p); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			s.Log.Warn("scheduling pod", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
	}
}

// schedule binds pod if it fits, else brings its PodScheduled condition
// up to date (reporting a changed reason).
func (s *Scheduler) schedule(ctx context.Context, pod *corev1.Pod) error {
	unlock := s.Lock()
	defer unlock()
	fits, msg := s.Decide(ctx, pod)
	if fits {
		bound, err := s.Pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod).DeepCopy()
			if p.UID != pod.UID {
				return nil, apierrors.NewConflict(corev1.Resource("pods"), pod.Name, fmt.Errorf("pod was replaced"))
			}
			p.ResourceVersion = ""
			p.Spec.NodeName = s.NodeName
			return p, nil
		}, registry.UpdateOptions{Binding: true})
		if err == nil {
			s.Bound(bound.(*corev1.Pod))
		}
		return err
	}
	if cur := Condition(pod); cur != nil && cur.Reason == ReasonUnschedulable && cur.Message == msg {
		return nil
	}
	_, err := s.Pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod).DeepCopy()
		if p.UID != pod.UID || p.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(corev1.Resource("pods"), pod.Name, fmt.Errorf("pod changed"))
		}
		p.ResourceVersion = ""
		SetCondition(&p.Status, s.Unschedulable(msg))
		return p, nil
	}, registry.UpdateOptions{Status: true})
	if err == nil {
		s.Failed(pod, msg)
	}
	return err
}

// Unschedulable is the PodScheduled=False condition of a pod that fits
// nowhere.
func (s *Scheduler) Unschedulable(msg string) corev1.PodCondition {
	return corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: ReasonUnschedulable,
		Message: msg, LastTransitionTime: s.now()}
}

// Bound reports a binding, as the scheduler's Scheduled event.
func (s *Scheduler) Bound(pod *corev1.Pod) {
	s.Recorder.Eventf(pod, "", events.Normal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, s.NodeName)
}

// Failed reports a pod that fits nowhere.
func (s *Scheduler) Failed(pod *corev1.Pod, msg string) {
	s.Recorder.Eventf(pod, "", events.Warning, EventFailed, "%s", msg)
}

func (s *Scheduler) now() metav1.Time { return metav1.NewTime(s.Now().UTC().Truncate(time.Second)) }

// Condition returns the pod's PodScheduled condition, or nil.
func Condition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// SetCondition replaces or adds the PodScheduled condition, keeping its
// transition time while its status is unchanged.
func SetCondition(st *corev1.PodStatus, c corev1.PodCondition) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == c.Type {
			if st.Conditions[i].Status == c.Status {
				c.LastTransitionTime = st.Conditions[i].LastTransitionTime
			}
			st.Conditions[i] = c
			return
		}
	}
	st.Conditions = append(st.Conditions, c)
}
