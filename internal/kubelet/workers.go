package kubelet

import (
	"context"
	"errors"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// podWorker serialises all work on one pod. Its fields are only touched by
// its own goroutine, but for the waiting reasons and the retry time, which
// the starts of a pod's containers in parallel (startRegular) also write,
// under mu; the worker reads them once those starts are over.
type podWorker struct {
	uid  types.UID
	wake chan struct{}
	mu   sync.Mutex

	// reasons remembers why a container could not be started (waiting
	// reason and message), as the kubelet's reason cache does.
	reasons map[string]waitingReason
	// sandboxAttempt counts sandboxes created for the pod.
	sandboxAttempt uint32
	// warnedDNS: the MissingClusterDNS event was recorded.
	warnedDNS bool
	// warnedSELinux: the SELinuxOptionsIgnored event was recorded.
	warnedSELinux bool
	// retryAt, if set, is when the worker wants to run again (backoff end).
	retryAt time.Time
	// firstSeen is when the kubelet first heard of the pod;
	// startObserved, whether its start latency is recorded.
	firstSeen     time.Time
	startObserved bool
	// volumesReady: the pod's volumes were set up once by this worker.
	volumesReady bool
	// quotaSet: this worker set the pod cgroup's CPU quota (see
	// createPod).
	quotaSet bool
	// mirrorNotBefore: a static pod's mirror that a user deleted is not
	// made again before then.
	mirrorNotBefore time.Time
	// lastPod is the pod as last seen, for the events of stopping a pod
	// deleted from the API at once.
	lastPod *corev1.Pod

	// The sync in progress (interrupt.go), under mu: the context of its
	// waits and its cancel, and the grace period it kills with (-1: the
	// pod is not terminating).
	waits       context.Context
	cancelWaits context.CancelFunc
	syncGrace   int64
	// preStopRan: containers whose preStop hook was run, under mu.
	preStopRan map[string]bool
}

type waitingReason struct {
	reason, message string
}

// wake makes the pod's worker sync it, starting the worker if needed.
func (k *Kubelet) wake(ctx context.Context, uid types.UID) {
	k.mu.Lock()
	w, ok := k.workers[uid]
	if !ok {
		w = &podWorker{uid: uid, wake: make(chan struct{}, 1), reasons: map[string]waitingReason{}, firstSeen: time.Now()}
		k.workers[uid] = w
		k.wg.Add(1)
		go k.runWorker(ctx, w)
	}
	k.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Error back-off of a pod worker: after a failed sync, wait this long
// (doubling) before trying again, unless a sooner retry was asked for.
const (
	minErrorDelay = time.Second
	maxErrorDelay = 10 * time.Second
)

func (k *Kubelet) runWorker(ctx context.Context, w *podWorker) {
	defer k.wg.Done()
	var retry <-chan time.Time
	errDelay := minErrorDelay
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-retry:
		}
		pod := w.beginSync(ctx, func() *corev1.Pod { return k.pod(w.uid) })
		done, err := k.syncPod(ctx, w, pod)
		w.endSync()
		if errors.Is(err, errInterrupted) {
			// The change that cut it short woke the worker: the next
			// sync acts on it at once.
			k.log.Debug("pod sync interrupted", "pod", podRef(pod, w.uid))
			err = nil
		}
		if err != nil && ctx.Err() == nil {
			k.log.Warn("pod sync failed", "pod", podRef(pod, w.uid), "err", err)
		}
		if done {
			k.mu.Lock()
			// Only retire if nothing new arrived for this pod meanwhile.
			if k.pods[w.uid] == nil || k.pods[w.uid] == pod {
				delete(k.workers, w.uid)
				k.mu.Unlock()
				return
			}
			k.mu.Unlock()
		}
		retry = nil
		switch {
		case !w.retryAt.IsZero():
			retry = time.After(time.Until(w.retryAt))
			w.retryAt = time.Time{}
		case err != nil:
			retry = time.After(errDelay)
			errDelay = min(2*errDelay, maxErrorDelay)
		}
		if err == nil {
			errDelay = minErrorDelay
		}
	}
}

// snapshot copies what generating and writing a status reads of the
// worker, for a status written while the worker goes on: the waiting
// reasons as they are now, and no start latency to observe.
func (w *podWorker) snapshot() *podWorker {
	return &podWorker{uid: w.uid, reasons: maps.Clone(w.reasons), startObserved: true, firstSeen: w.firstSeen}
}

// retryAfter asks for another sync no later than d from now.
func (w *podWorker) retryAfter(d time.Duration) {
	at := time.Now().Add(d)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.retryAt.IsZero() || at.Before(w.retryAt) {
		w.retryAt = at
	}
}

// setReason remembers why a container is waiting.
func (w *podWorker) setReason(name string, r waitingReason) {
	w.mu.Lock()
	w.reasons[name] = r
	w.mu.Unlock()
}

// clearReason forgets a container's waiting reason (it started).
func (w *podWorker) clearReason(name string) {
	w.mu.Lock()
	delete(w.reasons, name)
	w.mu.Unlock()
}

func podRef(pod *corev1.Pod, uid types.UID) string {
	if pod == nil {
		return string(uid)
	}
	return pod.Namespace + "/" + pod.Name
}
