package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"kubernetes.io/hostname": "n", "disk": "ssd"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi"), corev1.ResourcePods: resource.MustParse("3"),
		}},
	}
}

func pod(cpu, mem string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestFilter(t *testing.T) {
	hostPort := func(port int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: port, Protocol: corev1.ProtocolTCP}}
		}
	}
	tainted := node()
	tainted.Spec.Taints = []corev1.Taint{{Key: "node.kubernetes.io/memory-pressure", Effect: corev1.TaintEffectNoSchedule}}
	cordoned := node()
	cordoned.Spec.Unschedulable = true
	for _, tc := range []struct {
		desc  string
		pod   *corev1.Pod
		node  *corev1.Node
		bound []*corev1.Pod
		want  string
	}{
		{"fits", pod("1", "512Mi"), node(), []*corev1.Pod{pod("500m", "256Mi")}, ""},
		{"cpu", pod("1600m", ""), node(), []*corev1.Pod{pod("500m", "")}, "0/1 nodes are available: 1 Insufficient cpu."},
		{"cpu and memory", pod("3", "2Gi"), node(), nil, "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."},
		{"too many pods", pod("", ""), node(), []*corev1.Pod{pod("", ""), pod("", ""), pod("", "")}, "0/1 nodes are available: 1 Too many pods."},
		{"best effort always fits resources", pod("", ""), node(), []*corev1.Pod{pod("2", "1Gi")}, ""},
		{"node selector", pod("", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }), node(), nil,
			"0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."},
		{"node selector matches", pod("", "", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), node(), nil, ""},
		{"untolerated taint", pod("", ""), tainted, nil, "0/1 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/memory-pressure: }."},
		{"tolerated taint", pod("", "", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "node.kubernetes.io/memory-pressure", Operator: corev1.TolerationOpExists}}
		}), tainted, nil, ""},
		{"cordoned", pod("", ""), cordoned, nil, "0/1 nodes are available: 1 node(s) were unschedulable."},
		{"host port taken", pod("", "", hostPort(8080)), node(), []*corev1.Pod{pod("", "", hostPort(8080))},
			"0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."},
		{"other host port", pod("", "", hostPort(8081)), node(), []*corev1.Pod{pod("", "", hostPort(8080))}, ""},
		{"init container counts", pod("500m", "", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}}
		}), node(), nil, "0/1 nodes are available: 1 Insufficient cpu."},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got := ""
			if reasons := filter(tc.pod, tc.node, tc.bound); len(reasons) > 0 {
				got = fitMessage(1, reasons)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
