package kubelet

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestInterruptFor: the waits of a sync are cut short when the pod starts
// terminating, or terminates with a shorter grace than the sync kills
// with (a kill's override counts), or goes from the API; never by a
// longer grace or by a change that leaves the termination as it is.
func TestInterruptFor(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	now := metav1.Now()
	live := &corev1.Pod{}
	deleting := func(grace *int64) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now, DeletionGracePeriodSeconds: grace}}
	}
	for _, tc := range []struct {
		name     string
		syncing  *corev1.Pod
		override *int64 // a kill's override during the sync
		update   *corev1.Pod
		want     bool
	}{
		{name: "live pod starts terminating", syncing: live, update: deleting(i64(30)), want: true},
		{name: "live pod changes", syncing: live, update: live, want: false},
		{name: "live pod deleted from the API", syncing: live, update: nil, want: true},
		{name: "grace shortened", syncing: deleting(i64(30)), update: deleting(i64(2)), want: true},
		{name: "same grace", syncing: deleting(i64(30)), update: deleting(i64(30)), want: false},
		{name: "forced after a graceful delete", syncing: deleting(i64(30)), update: nil, want: true},
		{name: "grace 0 already", syncing: deleting(i64(0)), update: nil, want: false},
		{name: "eviction kill (override 0), then a delete", syncing: live, override: i64(0), update: deleting(i64(30)), want: false},
		{name: "restart kill (override 10), then a delete with 2", syncing: live, override: i64(10), update: deleting(i64(2)), want: true},
		{name: "the pod's own grace when the deletion has none", syncing: &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{TerminationGracePeriodSeconds: i64(5)}},
			update: deleting(i64(4)), want: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kubelet{workers: map[types.UID]*podWorker{}}
			w := &podWorker{uid: "u"}
			k.workers["u"] = w
			w.beginSync(context.Background(), func() *corev1.Pod { return tc.syncing })
			defer w.endSync()
			if tc.override != nil {
				w.killsWith(*tc.override)
			}
			k.interruptFor("u", tc.update)
			if got := w.interrupted(); got != tc.want {
				t.Errorf("interrupted = %v, want %v", got, tc.want)
			}
			if got := w.waitContext(context.Background()).Err() != nil; got != tc.want {
				t.Errorf("wait context done = %v, want %v", got, tc.want)
			}
		})
	}
	// Outside a sync nothing is interrupted and waits use the caller's
	// context.
	var none *podWorker
	if none.interrupted() || none.waitContext(context.Background()) != context.Background() {
		t.Error("a nil worker's waits are not the caller's")
	}
}

// TestPreStopOnce: a kill restarted with a shorter grace does not run a
// container's preStop hook again.
func TestPreStopOnce(t *testing.T) {
	w := &podWorker{}
	if !w.preStopOnce("a") || w.preStopOnce("a") || !w.preStopOnce("b") {
		t.Error("each container's hook runs exactly once")
	}
	var none *podWorker
	if !none.preStopOnce("a") || !none.preStopOnce("a") {
		t.Error("without a worker every kill runs the hook")
	}
}
