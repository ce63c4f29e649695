// Package events records core/v1 Events the way client-go's record package
// does for the kubelet and scheduler: named <object>.<hex nanos>, with
// identical events folded into one whose count and lastTimestamp grow
// (events_cache.go). Writes happen in the background so that recording never
// delays the pod lifecycle; a full queue drops events, as the broadcaster does.
package events

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/registry"
)

// Event types.
const (
	Normal  = corev1.EventTypeNormal
	Warning = corev1.EventTypeWarning
)

const (
	queueSize = 1000
	cacheSize = 4096
)

// Sink stores events; *registry.Store of events satisfies it.
type Sink interface {
	Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error)
	Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error)
}

// Source says who reports: component and host (kubelet/node) or a
// controller (default-scheduler).
type Source struct {
	Component string
	Host      string
	// Scheduler-style events carry eventTime and reportingController
	// instead of source and first/lastTimestamp (events.k8s.io/v1 seen
	// through core/v1).
	NewStyle bool
	Action   string
}

// Recorder records events for one source.
type Recorder struct {
	sink   Sink
	source Source
	now    func() time.Time
	log    *slog.Logger
	queue  chan *corev1.Event
	done   chan struct{}

	// stopMu guards stopped and the queue's closing against Eventf.
	stopMu  sync.RWMutex
	stopped bool

	mu    sync.Mutex
	cache map[string]string // aggregation key -> event name
	order []string
}

// NewRecorder starts a recorder; Stop ends it after writing what is queued.
func NewRecorder(sink Sink, source Source, now func() time.Time, log *slog.Logger) *Recorder {
	r := &Recorder{sink: sink, source: source, now: now, log: log,
		queue: make(chan *corev1.Event, queueSize), done: make(chan struct{}), cache: map[string]string{}}
	go r.run()
	return r
}

// Stop drains the queue and stops the writer; events recorded after it
// are dropped. It is safe to call more than once.
func (r *Recorder) Stop() {
	r.stopMu.Lock()
	if !r.stopped {
		r.stopped = true
		close(r.queue)
	}
	r.stopMu.Unlock()
	<-r.done
}

// Eventf records an event about obj (a Pod, Node...). fieldPath names the
// part of the object, e.g. "spec.containers{app}", or is empty.
func (r *Recorder) Eventf(obj runtime.Object, fieldPath, eventType, reason, format string, args ...any) {
	ref, ok := reference(obj)
	if !ok {
		return
	}
	ref.FieldPath = fieldPath
	now := r.now()
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%v.%x", ref.Name, now.UnixNano()), Namespace: ns},
		InvolvedObject: ref,
		Reason:         reason,
		Message:        fmt.Sprintf(format, args...),
		Type:           eventType,
		Count:          1,
	}
	if r.source.NewStyle {
		ev.EventTime = metav1.NewMicroTime(now)
		ev.ReportingController = r.source.Component
		ev.ReportingInstance = r.source.Component + "-" + r.source.Host
		ev.Action = r.source.Action
	} else {
		ts := metav1.NewTime(now.Truncate(time.Second))
		ev.FirstTimestamp, ev.LastTimestamp = ts, ts
		ev.Source = corev1.EventSource{Component: r.source.Component, Host: r.source.Host}
		ev.ReportingController, ev.ReportingInstance = r.source.Component, r.source.Host
	}
	r.stopMu.RLock()
	defer r.stopMu.RUnlock()
	if r.stopped {
		r.log.Debug("recorder stopped, dropping event", "reason", reason, "object", ref.Name)
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.log.Warn("event queue full, dropping event", "reason", reason, "object", ref.Name)
	}
}

func reference(obj runtime.Object) (corev1.ObjectReference, bool) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *corev1.Node:
		// Node events use the node name as UID, as the kubelet does.
		return corev1.ObjectReference{Kind: "Node", Name: o.Name, UID: types.UID(o.Name)}, true
	case *corev1.ObjectReference:
		return *o, true
	case *appsv1.ReplicaSet:
		return corev1.ObjectReference{Kind: "ReplicaSet", APIVersion: "apps/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *batchv1.CronJob:
		return corev1.ObjectReference{Kind: "CronJob", APIVersion: "batch/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *batchv1.Job:
		return corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *corev1.PersistentVolumeClaim:
		return corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *appsv1.StatefulSet:
		return corev1.ObjectReference{Kind: "StatefulSet", APIVersion: "apps/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *appsv1.DaemonSet:
		return corev1.ObjectReference{Kind: "DaemonSet", APIVersion: "apps/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	case *appsv1.Deployment:
		return corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, true
	}
	return corev1.ObjectReference{}, false
}

func aggregationKey(ev *corev1.Event) string {
	o := ev.InvolvedObject
	return fmt.Sprint(ev.Source.Component, "|", ev.Source.Host, "|", ev.ReportingController, "|", o.Kind, "|", o.Namespace, "|", o.Name, "|",
		o.UID, "|", o.APIVersion, "|", o.FieldPath, "|", ev.Type, "|", ev.Reason, "|", ev.Message)
}

func (r *Recorder) run() {
	defer close(r.done)
	for ev := range r.queue {
		r.write(ev)
	}
}

// write creates the event, or bumps the count of an identical earlier one.
func (r *Recorder) write(ev *corev1.Event) {
	ctx := context.Background()
	key := aggregationKey(ev)
	r.mu.Lock()
	name, seen := r.cache[key]
	r.mu.Unlock()
	if seen {
		_, err := r.sink.Update(ctx, ev.Namespace, name, func(cur runtime.Object) (runtime.Object, error) {
			old := cur.(*corev1.Event).DeepCopy()
			old.ResourceVersion = ""
			old.Count++
			if r.source.NewStyle {
				if old.Series == nil {
					old.Series = &corev1.EventSeries{}
				}
				old.Series.Count = old.Count
				old.Series.LastObservedTime = ev.EventTime
			} else {
				old.LastTimestamp = ev.LastTimestamp
			}
			return old, nil
		}, registry.UpdateOptions{})
		if err == nil {
			return
		}
		if !apierrors.IsNotFound(err) {
			r.log.Warn("updating event", "name", name, "err", err)
			return
		}
	}
	created := false
	base := ev.Name
	for i := 1; i <= 8 && !created; i++ {
		_, err := r.sink.Create(ctx, ev.Namespace, ev.DeepCopy(), false)
		switch {
		case err == nil:
			created = true
		case apierrors.IsAlreadyExists(err):
			// Two events about one object in the same nanosecond (or a
			// coarse clock): take the next name.
			ev.Name = fmt.Sprintf("%s%x", base, i)
		default:
			// Events in a namespace being deleted are refused; fine.
			r.log.Debug("creating event", "name", ev.Name, "err", err)
			return
		}
	}
	if !created {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.cache[key]; !ok {
		r.order = append(r.order, key)
		if len(r.order) > cacheSize {
			delete(r.cache, r.order[0])
			r.order = r.order[1:]
		}
	}
	r.cache[key] = ev.Name
}
