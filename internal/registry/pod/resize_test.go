package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestResize(t *testing.T) {
	rl := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	always := corev1.ContainerRestartPolicyAlways
	stored := func() *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7", Generation: 1},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{
					{Name: "init", Image: "busybox", Resources: corev1.ResourceRequirements{Requests: rl("100m", "32Mi")}},
					{Name: "sidecar", Image: "busybox", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Requests: rl("100m", "32Mi")}},
				},
				Containers: []corev1.Container{{Name: "app", Image: "busybox",
					Resources: corev1.ResourceRequirements{Requests: rl("100m", "32Mi"), Limits: rl("200m", "64Mi")}}},
			}}
		SetDefaults(p)
		p.Status.QOSClass = corev1.PodQOSBurstable
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			Resources: &corev1.ResourceRequirements{}}}
		return p
	}
	for _, tc := range []struct {
		desc   string
		mutate func(*corev1.Pod)
		old    func(*corev1.Pod)
		want   string // "" for valid
	}{
		{"cpu and memory of a container", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Requests: rl("150m", "48Mi"), Limits: rl("300m", "96Mi")}
		}, nil, ""},
		{"a sidecar", func(p *corev1.Pod) { p.Spec.InitContainers[1].Resources.Requests = rl("200m", "64Mi") }, nil, ""},
		{"a memory decrease", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Limits = rl("200m", "40Mi") }, nil, ""},
		{"QoS change", func(p *corev1.Pod) {
			for _, l := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
				for i := range l {
					l[i].Resources = corev1.ResourceRequirements{Requests: rl("200m", "64Mi"), Limits: rl("200m", "64Mi")}
				}
			}
		}, nil, `spec: Invalid value: "Burstable": Pod QOS Class may not change as a result of resizing`},
		// (A request removed where a limit is would come back as the
		// limit's default.)
		{"a request removed", func(p *corev1.Pod) { delete(p.Spec.InitContainers[1].Resources.Requests, corev1.ResourceMemory) },
			nil, "spec.initContainers[1].resources.requests: Forbidden: resource requests cannot be removed"},
		{"a limit removed", func(p *corev1.Pod) { delete(p.Spec.Containers[0].Resources.Limits, corev1.ResourceCPU) },
			nil, "spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed"},
		{"ephemeral storage", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceEphemeralStorage] = resource.MustParse("1Gi")
		}, nil, "spec: Forbidden: only cpu and memory resources are mutable"},
		{"resize policy", func(p *corev1.Pod) {
			p.Spec.Containers[0].ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceCPU, RestartPolicy: corev1.RestartContainer}}
		}, nil, "spec: Forbidden: only cpu and memory resources are mutable"},
		{"an init container", func(p *corev1.Pod) { p.Spec.InitContainers[0].Resources.Requests = rl("200m", "64Mi") },
			nil, "spec: Forbidden: resources for non-sidecar init containers are immutable"},
		{"a container added", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "more", Image: "busybox"})
		}, nil, "spec.containers: Forbidden: containers may not be added or removed on resize"},
		{"containers renamed", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "other" },
			nil, "spec.containers[0].name: Forbidden: containers may not be renamed or reordered on resize"},
		{"requests over limits", func(p *corev1.Pod) { p.Spec.Containers[0].Resources.Requests = rl("300m", "32Mi") },
			nil, "spec.containers[0].resources.requests: Invalid value: \"300m\": must be less than or equal to cpu limit"},
		{"static pod", func(p *corev1.Pod) {}, func(p *corev1.Pod) {
			p.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
		}, ": Forbidden: static pods cannot be resized"},
		{"an old node", func(p *corev1.Pod) {}, func(p *corev1.Pod) { p.Status.ContainerStatuses[0].Resources = nil },
			"spec: Forbidden: Pod running on node without support for resize"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := &Strategy{}
			old := stored()
			if tc.old != nil {
				tc.old(old)
			}
			p := old.DeepCopy()
			tc.mutate(p)
			// What the subresource keeps of the request: the resources
			// only.
			p.Spec.Containers[0].Image = "ignored"
			p.Labels = map[string]string{"ignored": "yes"}
			s.PrepareForResize(context.Background(), p, old)
			if p.Labels != nil || (len(p.Spec.Containers) == 1 && p.Spec.Containers[0].Name == "app" && p.Spec.Containers[0].Image != "busybox") {
				t.Errorf("other fields changed: %+v", p)
			}
			errs := s.ValidateResize(context.Background(), p, old)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
			if tc.want == "" && p.Generation != 2 {
				t.Errorf("generation %d, want 2", p.Generation)
			}
		})
	}
}
