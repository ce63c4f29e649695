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

func TestNodeAffinityMismatch(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "vm", Labels: map[string]string{"kubernetes.io/os": "linux", "disk": "ssd"}}}
	term := func(key string, op corev1.NodeSelectorOperator, values ...string) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}}}}}
	}
	const msg = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
	for _, tc := range []struct {
		name     string
		selector map[string]string
		affinity *corev1.Affinity
		want     string
	}{
		{name: "none"},
		{name: "matching selector", selector: map[string]string{"kubernetes.io/os": "linux"}},
		{name: "windows selector", selector: map[string]string{"kubernetes.io/os": "windows"}, want: msg},
		{name: "missing label", selector: map[string]string{"gpu": "yes"}, want: msg},
		{name: "matching affinity", affinity: term("disk", corev1.NodeSelectorOpIn, "ssd", "nvme")},
		{name: "affinity not matching", affinity: term("disk", corev1.NodeSelectorOpNotIn, "ssd"), want: msg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{NodeSelector: tc.selector, Affinity: tc.affinity}}
			reason, got := nodeAffinityMismatch(pod, node)
			if got != tc.want || (reason == "") != (tc.want == "") || reason != "" && reason != "NodeAffinity" {
				t.Errorf("nodeAffinityMismatch = %q, %q; want %q", reason, got, tc.want)
			}
		})
	}
}
