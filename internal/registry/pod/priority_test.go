package pod

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestUpdateKeepsPriority: an update that leaves out the priority and
// preemption policy the Priority plugin set keeps them (and passes the
// update validation), as the plugin's update half does upstream.
func TestUpdateKeepsPriority(t *testing.T) {
	prio, never := int32(100), corev1.PreemptNever
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{PriorityClassName: "batch-low", Priority: &prio, PreemptionPolicy: &never,
			Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	SetDefaults(old)
	pod := old.DeepCopy()
	pod.Spec.Priority, pod.Spec.PreemptionPolicy = nil, nil
	pod.Labels = map[string]string{"touched": "yes"}
	s := &Strategy{}
	s.PrepareForUpdate(context.Background(), pod, old)
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 100 || pod.Spec.PreemptionPolicy == nil || *pod.Spec.PreemptionPolicy != never {
		t.Fatalf("priority %v, policy %v", pod.Spec.Priority, pod.Spec.PreemptionPolicy)
	}
	if errs := s.ValidateUpdate(context.Background(), pod, old); len(errs) > 0 {
		t.Errorf("update refused: %v", errs.ToAggregate())
	}
}
