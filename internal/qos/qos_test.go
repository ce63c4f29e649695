package qos

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func res(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestComputePodQOS(t *testing.T) {
	full := corev1.ResourceRequirements{Requests: res("cpu", "1", "memory", "1Gi"), Limits: res("cpu", "1", "memory", "1Gi")}
	for _, tc := range []struct {
		desc string
		spec corev1.PodSpec
		want corev1.PodQOSClass
	}{
		{"nothing set", corev1.PodSpec{Containers: []corev1.Container{{}}}, corev1.PodQOSBestEffort},
		{"only ephemeral-storage", corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("ephemeral-storage", "1Gi")}}}}, corev1.PodQOSBestEffort},
		{"requests equal limits", corev1.PodSpec{Containers: []corev1.Container{{Resources: full}}}, corev1.PodQOSGuaranteed},
		{"init container without limits", corev1.PodSpec{Containers: []corev1.Container{{Resources: full}}, InitContainers: []corev1.Container{{}}}, corev1.PodQOSBurstable},
		{"only cpu request", corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("cpu", "100m")}}}}, corev1.PodQOSBurstable},
		{"only memory limits", corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Limits: res("memory", "1Gi"), Requests: res("memory", "1Gi")}}}}, corev1.PodQOSBurstable},
		{"zero cpu request", corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("cpu", "0")}}}}, corev1.PodQOSBestEffort},
		{"request below limit", corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: res("cpu", "500m", "memory", "1Gi"), Limits: res("cpu", "1", "memory", "1Gi")}}}}, corev1.PodQOSBurstable},
		{"two guaranteed containers", corev1.PodSpec{Containers: []corev1.Container{{Resources: full}, {Resources: full}}}, corev1.PodQOSGuaranteed},
		{"pod-level resources", corev1.PodSpec{Resources: &full, Containers: []corev1.Container{{}}}, corev1.PodQOSGuaranteed},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := ComputePodQOS(&corev1.Pod{Spec: tc.spec}); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}
