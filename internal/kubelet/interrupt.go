package kubelet

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// A sync waits on things a pod's deletion must be able to cut short: a
// postStart hook that never ends, a preStop hook, a grace period. As the
// kubelet's pod workers cancel the sync in progress when a pod starts
// terminating or its grace period is shortened (podWorkers.UpdatePod), a
// worker's waits run under a context that such a change of the pod
// cancels (interruptFor); the worker then syncs again at once, with the
// pod as it now is. Only the waits use it: runtime calls that make or
// remove things keep the worker's own context, so nothing is left half
// made.

// errInterrupted ends a sync whose waits were cut short by a change of
// the pod's termination; the worker syncs again at once.
var errInterrupted = errors.New("sync interrupted: the pod's termination changed")

// beginSync reads the pod the coming sync acts on (with read) and records
// its termination; endSync releases the sync's waits. The pod is read
// under the worker's lock, so a change stored after it is read finds the
// sync registered (interruptFor) and one stored before is in the pod read.
func (w *podWorker) beginSync(ctx context.Context, read func() *corev1.Pod) *corev1.Pod {
	waits, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	pod := read()
	w.waits, w.cancelWaits = waits, cancel
	w.syncGrace = terminationGrace(pod)
	return pod
}

func (w *podWorker) endSync() {
	w.mu.Lock()
	cancel := w.cancelWaits
	w.waits, w.cancelWaits = nil, nil
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// waitContext is the context for the sync's waits: ctx itself outside a
// worker's sync (tests, a nil worker).
func (w *podWorker) waitContext(ctx context.Context) context.Context {
	if w == nil {
		return ctx
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		return ctx
	}
	return w.waits
}

// interrupted reports whether the sync's waits were cut short.
func (w *podWorker) interrupted() bool {
	if w == nil {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.waits != nil && w.waits.Err() != nil
}

// terminationGrace is the grace period a sync of pod kills with: -1 for a
// pod that is not terminating, 0 for one gone from the API.
func terminationGrace(pod *corev1.Pod) int64 {
	switch {
	case pod == nil:
		return 0
	case pod.DeletionTimestamp == nil:
		return -1
	case pod.DeletionGracePeriodSeconds != nil:
		return *pod.DeletionGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		return *pod.Spec.TerminationGracePeriodSeconds
	}
	return corev1.DefaultTerminationGracePeriodSeconds
}

// interruptFor cuts short the waits of the sync in progress for uid when
// pod (nil: deleted from the API) terminates sooner than that sync
// assumed: it starts terminating, or its grace period was shortened.
func (k *Kubelet) interruptFor(uid types.UID, pod *corev1.Pod) {
	k.mu.Lock()
	w := k.workers[uid]
	k.mu.Unlock()
	if w == nil {
		return
	}
	grace := terminationGrace(pod)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cancelWaits == nil || grace < 0 {
		return
	}
	if w.syncGrace < 0 || grace < w.syncGrace {
		w.cancelWaits()
	}
}

// killsWith records that the sync kills with grace (an override: an
// eviction's 0), so that a deletion asking for more time does not cut it
// short.
func (w *podWorker) killsWith(grace int64) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.syncGrace < 0 || grace < w.syncGrace {
		w.syncGrace = grace
	}
}

// preStopOnce reports whether the preStop hook of container id is still
// to run, and records that it runs now: a kill restarted with a shorter
// grace period does not run it again.
func (w *podWorker) preStopOnce(id string) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.preStopRan[id] {
		return false
	}
	if w.preStopRan == nil {
		w.preStopRan = map[string]bool{}
	}
	w.preStopRan[id] = true
	return true
}
