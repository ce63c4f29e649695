package kubelet

import (
	"fmt"
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
	always := corev1.ContainerRestartPolicyAlways
	// withSidecar adds a sidecar asking for mem (its value is what the
	// case checks) next to regular containers asking for regular.
	withSidecar := func(mem string, regular ...string) *corev1.Pod {
		p := burstable(mem)
		side := p.Spec.Containers[0]
		side.Name, side.RestartPolicy = "side", &always
		p.Spec.InitContainers = []corev1.Container{side}
		p.Spec.Containers = nil
		for i, r := range regular {
			c := burstable(r).Spec.Containers[0]
			c.Name = fmt.Sprintf("app%d", i)
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	critical := func(p *corev1.Pod, class string, prio int32) *corev1.Pod {
		p.Spec.PriorityClassName, p.Spec.Priority = class, &prio
		return p
	}
	for _, tc := range []struct {
		desc    string
		pod     *corev1.Pod
		sidecar bool
		want    int64
	}{
		{"besteffort", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}, false, 1000},
		{"guaranteed", &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: full, Limits: full}}}}}, false, -997},
		{"burstable 1Gi of 16Gi", burstable("1Gi"), false, 938},
		{"burstable 64Mi", burstable("64Mi"), false, 997},
		{"burstable without memory request", burstable(""), false, 999},
		{"burstable asking for everything", burstable("16Gi"), false, 3},
		// A sidecar is never more exposed than the least-requesting
		// regular container: 64Mi alone gives 997, the 1Gi app 938.
		{"sidecar capped by the regular containers", withSidecar("64Mi", "1Gi", "2Gi"), true, 938},
		{"sidecar below the regular containers keeps its own", withSidecar("2Gi", "1Gi"), true, 875},
		{"sidecar next to a container without memory request", withSidecar("64Mi", "1Gi", ""), true, 997},
		{"sidecar without memory request", withSidecar("", "1Gi"), true, 938},
		{"regular container next to a sidecar", withSidecar("1Gi", "64Mi"), false, 997},
		{"node-critical besteffort", critical(&corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{}}}}, "system-node-critical", 2000001000), false, -997},
		{"cluster-critical burstable keeps its formula", critical(burstable("1Gi"), "system-cluster-critical", 2000000000), false, 938},
		{"node-critical class without the priority", critical(burstable("1Gi"), "system-node-critical", 0), false, 938},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c := &tc.pod.Spec.Containers[0]
			if tc.sidecar {
				c = &tc.pod.Spec.InitContainers[0]
			}
			if got := oomScoreAdj(tc.pod, c, capacity); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}
