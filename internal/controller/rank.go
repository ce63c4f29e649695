package controller

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DeletionCostAnnotation lowers or raises a pod's place among those a
// ReplicaSet deletes first.
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// SortForDeletion orders pods the way a ReplicaSet picks the ones to
// delete first (ActivePodsWithRanks.Less, with LogarithmicScaleDown): not
// scheduled, then Pending before Unknown before Running, not ready, lower
// deletion cost, more recently ready (in log2 buckets of the time since),
// more restarts, newer (in log2 buckets). Every pod is on this one node,
// so upstream's co-location rank is equal for all and left out.
func SortForDeletion(pods []*corev1.Pod, now time.Time) {
	sort.SliceStable(pods, func(i, j int) bool { return deleteFirst(pods[i], pods[j], now) })
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func deleteFirst(a, b *corev1.Pod, now time.Time) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	if ra, rb := IsPodReady(a), IsPodReady(b); ra != rb {
		return !ra
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if IsPodReady(a) && IsPodReady(b) {
		ta, tb := readyCondition(a).LastTransitionTime.Time, readyCondition(b).LastTransitionTime.Time
		if !ta.Equal(tb) {
			if ta.IsZero() || tb.IsZero() {
				return afterOrZero(ta, tb)
			}
			if d := logRankDiff(ta, tb, now); d != 0 {
				return d < 0
			}
			return a.UID < b.UID
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		if ta.IsZero() || tb.IsZero() {
			return afterOrZero(ta, tb)
		}
		if d := logRankDiff(ta, tb, now); d != 0 {
			return d < 0
		}
		return a.UID < b.UID
	}
	return false
}

// afterOrZero: a zero time counts as the newest.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

// logRankDiff compares how long ago a and b were, in log2 buckets of
// nanoseconds (logarithmicRankDiff).
func logRankDiff(a, b, now time.Time) int {
	rank := func(t time.Time) int {
		d := now.Sub(t)
		if d <= 0 {
			return -1
		}
		return int(math.Log2(float64(d)))
	}
	return rank(a) - rank(b)
}

func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[DeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

func maxRestarts(p *corev1.Pod) int32 {
	var m int32
	for _, cs := range p.Status.ContainerStatuses {
		m = max(m, cs.RestartCount)
	}
	return m
}
