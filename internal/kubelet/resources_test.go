package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestMilliCPUConversions(t *testing.T) {
	for _, tc := range []struct{ milli, shares, quota int64 }{
		{0, 2, 0}, {1, 2, 1000}, {5, 5, 1000}, {100, 102, 10000}, {250, 256, 25000},
		{500, 512, 50000}, {1000, 1024, 100000}, {2000, 2048, 200000}, {300000, 262144, 30000000},
	} {
		if got := milliCPUToShares(tc.milli); got != tc.shares {
			t.Errorf("shares(%dm) = %d, want %d", tc.milli, got, tc.shares)
		}
		if got := milliCPUToQuota(tc.milli, quotaPeriod); got != tc.quota {
			t.Errorf("quota(%dm) = %d, want %d", tc.milli, got, tc.quota)
		}
	}
}

func TestOOMScoreAdj(t *testing.T) {
	const gib = int64(1 << 30)
	capacity := 16 * gib
	burstable := func(mem string) *corev1.Pod {
		c := corev1.Container{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}}
		if mem != "" {
			c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	full := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")}
	for _, tc := range []struct {
		desc string
		pod  *corev1.Pod
		want int64
	}{
		{"besteffort", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}, 1000},
		{"guaranteed", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: full, Limits: full}}}}}, -997},
		{"burstable 1Gi of 16Gi", burstable("1Gi"), 938},
		{"burstable 64Mi", burstable("64Mi"), 997},
		{"burstable without memory request", burstable(""), 999},
		{"burstable asking for everything", burstable("16Gi"), 3},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := oomScoreAdj(tc.pod, &tc.pod.Spec.Containers[0], capacity); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
