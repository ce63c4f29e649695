package controller

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestSortForDeletion(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	pod := func(name, node string, phase corev1.PodPhase, readySince time.Duration, cost string, restarts int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
			Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
		if readySince > 0 {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-readySince))}}
		}
		if cost != "" {
			p.Annotations = map[string]string{DeletionCostAnnotation: cost}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{RestartCount: restarts}}
		return p
	}
	pods := []*corev1.Pod{
		pod("ready-long", "n", corev1.PodRunning, time.Hour, "", 0),
		pod("ready-recent", "n", corev1.PodRunning, 5*time.Second, "", 0),
		pod("unscheduled", "", corev1.PodPending, 0, "", 0),
		pod("pending", "n", corev1.PodPending, 0, "", 0),
		pod("running-not-ready", "n", corev1.PodRunning, 0, "", 0),
		pod("cheap", "n", corev1.PodRunning, time.Hour, "-10", 0),
	}
	SortForDeletion(pods, now)
	want := []string{"unscheduled", "pending", "running-not-ready", "cheap", "ready-recent", "ready-long"}
	for i, p := range pods {
		if p.Name != want[i] {
			got := make([]string, len(pods))
			for j, q := range pods {
				got[j] = q.Name
			}
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
