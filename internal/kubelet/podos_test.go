package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckPodOS(t *testing.T) {
	for _, tc := range []struct {
		name       string
		labels     map[string]string
		os         *corev1.PodOS
		selector   map[string]string
		wantReason string
		wantMsg    string
	}{
		{name: "nothing said"},
		{name: "linux field", os: &corev1.PodOS{Name: corev1.Linux}},
		{name: "linux label", labels: map[string]string{"kubernetes.io/os": "linux"}},
		{name: "windows field", os: &corev1.PodOS{Name: corev1.Windows},
			wantReason: "PodOSNotSupported", wantMsg: "Failed to admit pod as the OS field doesn't match node OS"},
		{name: "windows label", labels: map[string]string{"kubernetes.io/os": "windows"},
			wantReason: "PodOSSelectorNodeLabelDoesNotMatch", wantMsg: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{name: "label checked first", labels: map[string]string{"kubernetes.io/os": "windows"}, os: &corev1.PodOS{Name: corev1.Windows},
			wantReason: "PodOSSelectorNodeLabelDoesNotMatch", wantMsg: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{name: "beta label ignored", labels: map[string]string{"beta.kubernetes.io/os": "windows"}},
		// The nodeSelector is the scheduler's (NodeAffinity), not this check's.
		{name: "nodeSelector ignored", selector: map[string]string{"kubernetes.io/os": "windows"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}, Spec: corev1.PodSpec{OS: tc.os, NodeSelector: tc.selector}}
			reason, msg := checkPodOS(pod, "linux")
			if reason != tc.wantReason || msg != tc.wantMsg {
				t.Errorf("checkPodOS = %q, %q; want %q, %q", reason, msg, tc.wantReason, tc.wantMsg)
			}
		})
	}
}
