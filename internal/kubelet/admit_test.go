package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry/priorityclass"
)

func admitNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"kubernetes.io/os": "linux", "disk": "ssd"}},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("2"),
			corev1.ResourceMemory: resource.MustParse("1Gi"),
			corev1.ResourcePods:   resource.MustParse("3"),
		}},
	}
}

func requesting(cpu, mem string) *corev1.Pod {
	req := corev1.ResourceList{}
	if cpu != "" {
		req[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		req[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{Requests: req}}}}}
}

func TestAdmitPredicates(t *testing.T) {
	with := func(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod { f(p); return p }
	tainted := admitNode()
	tainted.Spec.Taints = []corev1.Taint{
		{Key: "team", Value: "blue", Effect: corev1.TaintEffectNoSchedule}, // the kubelet looks at NoExecute only
		{Key: "gone", Effect: corev1.TaintEffectNoExecute},
	}
	hostPort := func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
	}
	for _, tc := range []struct {
		name            string
		pod             *corev1.Pod
		node            *corev1.Node
		others          []*corev1.Pod
		static          bool
		reason, message string
	}{
		{name: "fits", pod: requesting("1", "512Mi"), node: admitNode(), others: []*corev1.Pod{requesting("1", "512Mi")}},
		{name: "cpu", pod: requesting("1500m", ""), node: admitNode(), others: []*corev1.Pod{requesting("1", "")},
			reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000"},
		{name: "memory", pod: requesting("", "1Gi"), node: admitNode(), others: []*corev1.Pod{requesting("", "1Mi")},
			reason: "OutOfmemory", message: "Node didn't have enough resource: memory, requested: 1073741824, used: 1048576, capacity: 1073741824"},
		{name: "cpu before memory", pod: requesting("3", "2Gi"), node: admitNode(),
			reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 3000, used: 0, capacity: 2000"},
		{name: "pods first", pod: requesting("3", ""), node: admitNode(), others: []*corev1.Pod{requesting("", ""), requesting("", ""), requesting("", "")},
			reason: "OutOfpods", message: "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3"},
		{name: "init containers count as upstream", node: admitNode(), pod: with(requesting("100m", ""), func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2500m")}}}}
		}), reason: "OutOfcpu", message: "Node didn't have enough resource: cpu, requested: 2500, used: 0, capacity: 2000"},
		{name: "a static pod that does not fit is admitted", pod: requesting("3", ""), node: admitNode(), static: true},
		{name: "node selector", node: admitNode(), pod: with(requesting("", ""), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "hdd"} }),
			reason: "NodeAffinity", message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{name: "node selector matches", node: admitNode(), pod: with(requesting("", ""), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} })},
		{name: "required affinity", node: admitNode(), pod: with(requesting("", ""), func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "gpu", Operator: corev1.NodeSelectorOpExists}}}}}}}
		}), reason: "NodeAffinity", message: "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
		{name: "host port taken", node: admitNode(), pod: with(requesting("", ""), hostPort), others: []*corev1.Pod{with(requesting("", ""), hostPort)},
			reason: "NodePorts", message: "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"},
		{name: "NoExecute taint", node: tainted, pod: requesting("", ""),
			reason: "TaintToleration", message: "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"},
		{name: "NoExecute taint tolerated", node: tainted, pod: with(requesting("", ""), func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "gone", Operator: corev1.TolerationOpExists}}
		})},
		{name: "static pods ignore taints", node: tainted, pod: requesting("", ""), static: true},
		{name: "os label", node: admitNode(), pod: with(requesting("", ""), func(p *corev1.Pod) { p.Labels = map[string]string{"kubernetes.io/os": "windows"} }),
			reason: "PodOSSelectorNodeLabelDoesNotMatch", message: "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{name: "os field", node: admitNode(), pod: with(requesting("", ""), func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} }),
			reason: "PodOSNotSupported", message: "Failed to admit pod as the OS field doesn't match node OS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := admitPredicates(tc.pod, tc.node, tc.others, tc.static)
			var reason, message string
			if got != nil {
				reason, message = got.reason, got.message
			}
			if reason != tc.reason || message != tc.message {
				t.Errorf("got %q %q, want %q %q", reason, message, tc.reason, tc.message)
			}
		})
	}
}

func TestAdmitUnderPressure(t *testing.T) {
	bestEffort := requesting("", "")
	bestEffort.UID = "be"
	tolerating := bestEffort.DeepCopy()
	tolerating.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	critical := bestEffort.DeepCopy()
	prio := int32(priorityclass.SystemCriticalPriority)
	critical.Spec.Priority = &prio
	static := bestEffort.DeepCopy()
	static.Annotations = map[string]string{"kubernetes.io/config.source": "file"}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		pressure bool
		refused  bool
	}{
		{"no pressure", bestEffort, false, false},
		{"best effort", bestEffort, true, true},
		{"burstable", requesting("100m", ""), true, false},
		{"tolerates memory pressure", tolerating, true, false},
		{"critical priority", critical, true, false},
		{"static", static, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &Kubelet{}
			k.pressure.active = tc.pressure
			got := k.admitUnderPressure(tc.pod)
			if !tc.refused {
				if got != nil {
					t.Fatalf("refused: %+v", got)
				}
				return
			}
			if got == nil || got.reason != "Evicted" || got.message != "The node had condition: [MemoryPressure]. " {
				t.Errorf("got %+v, want Evicted %q", got, "The node had condition: [MemoryPressure]. ")
			}
		})
	}
}

// TestSyncRejects: a pod that does not fit next to the pods admitted
// before it fails at its first sync, before anything of it runs, with the
// kubelet's reason, message and event; a BestEffort pod is refused under
// memory pressure.
func TestSyncRejects(t *testing.T) {
	tk := newTestKubelet(t)
	tk.nodes.node.Status.Allocatable[corev1.ResourceCPU] = resource.MustParse("1")
	withCPU := func(name, cpu string) *corev1.Pod {
		p := requesting(cpu, "")
		p.Name = name
		p.Spec.Containers[0].Name = "app"
		return p
	}
	tk.add(t, withCPU("first", "600m"))
	if p := tk.sync(t, "first"); p.Status.Phase == corev1.PodFailed {
		t.Fatalf("first refused: %s %s", p.Status.Reason, p.Status.Message)
	}
	tk.add(t, withCPU("second", "600m"))
	p := tk.sync(t, "second")
	const want = "Pod was rejected: Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000"
	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "OutOfcpu" || p.Status.Message != want {
		t.Errorf("second: %s %s %q, want Failed OutOfcpu %q", p.Status.Phase, p.Status.Reason, p.Status.Message, want)
	}
	if n := tk.rt.instances("app"); n != 1 {
		t.Errorf("%d app containers, want only first's", n)
	}
	found := false
	for _, e := range tk.eventsFor("*") {
		found = found || e == "OutOfcpu: Node didn't have enough resource: cpu, requested: 600, used: 600, capacity: 1000"
	}
	if !found {
		t.Errorf("no OutOfcpu event in %q", tk.eventsFor("*"))
	}
	// first, admitted already, is not refused at its next sync.
	tk.worker = &podWorker{uid: "uid-first", reasons: map[string]waitingReason{}, firstSeen: tk.clock.Now()}
	if p := tk.sync(t, "first"); p.Status.Phase == corev1.PodFailed {
		t.Errorf("first refused on a later sync: %s", p.Status.Message)
	}

	tk.pressure.active = true
	tk.add(t, withCPU("hungry", ""))
	p = tk.sync(t, "hungry")
	if p.Status.Phase != corev1.PodFailed || p.Status.Reason != "Evicted" || p.Status.Message != "Pod was rejected: The node had condition: [MemoryPressure]. " {
		t.Errorf("BestEffort under pressure: %s %s %q", p.Status.Phase, p.Status.Reason, p.Status.Message)
	}
}

// TestAdmitBeforeRegistration: before the Node is in the API (static
// pods start first), admission goes by the node the kubelet would
// register, not refusing everything.
func TestAdmitBeforeRegistration(t *testing.T) {
	tk := newTestKubelet(t)
	tk.nodes.node = nil
	p := requesting("10m", "")
	p.Name = "early"
	tk.add(t, p)
	if got := tk.sync(t, "early"); got.Status.Phase == corev1.PodFailed {
		t.Errorf("refused before registration: %s %s", got.Status.Reason, got.Status.Message)
	}
	huge := requesting("100000", "")
	huge.Name = "huge"
	tk.add(t, huge)
	if got := tk.sync(t, "huge"); got.Status.Reason != "OutOfcpu" {
		t.Errorf("a pod larger than the machine: %s %s", got.Status.Reason, got.Status.Message)
	}
}
