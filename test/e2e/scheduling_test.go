package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cpuPod(name, cpu string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: "%s"}
`, name, cpu)
}

// TestNodeFit: allocatable is capacity minus the reservations and the
// eviction threshold; a pod that does not fit next to the running ones
// stays Pending with kube-scheduler's condition and FailedScheduling event
// and runs once room frees up; a node selector is honoured and re-checked
// when the node's labels change.
func TestNodeFit(t *testing.T) {
	d := startDaemon(t, withArgs("--system-reserved", "cpu=500m,memory=64Mi", "--kube-reserved", "memory=64Mi"))
	ctx := context.Background()
	var node *corev1.Node
	d.waitFor("the node", 30*time.Second, func() (bool, error) {
		nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			return false, nil
		}
		node = &nodes.Items[0]
		return true, nil
	})
	capCPU, allocCPU := node.Status.Capacity.Cpu().MilliValue(), node.Status.Allocatable.Cpu().MilliValue()
	if allocCPU != capCPU-500 {
		t.Errorf("allocatable cpu %dm, capacity %dm: want 500m reserved", allocCPU, capCPU)
	}
	wantMem := node.Status.Capacity.Memory().DeepCopy()
	wantMem.Sub(resource.MustParse("228Mi")) // 64Mi + 64Mi reserved, 100Mi eviction threshold
	if got := node.Status.Allocatable[corev1.ResourceMemory]; got.Cmp(wantMem) != 0 {
		t.Errorf("allocatable memory %s, want %s", got.String(), wantMem.String())
	}

	// Node allocatable is enforced on kubepods: its CPU's shares, and the
	// capacity less the reservations as memory limit.
	if got, want := d.v1Value(t, "cpu", d.cgroupRoot+"/kubepods", "cpu.shares"), strconv.FormatInt(allocCPU*1024/1000, 10); got != want {
		t.Errorf("kubepods cpu.shares %s, want %s", got, want)
	}
	wantLimit := node.Status.Capacity.Memory().Value() - 128<<20
	if got := d.v1Value(t, "memory", d.cgroupRoot+"/kubepods", "memory.limit_in_bytes"); got != strconv.FormatInt(wantLimit, 10) {
		t.Errorf("kubepods memory limit %s, want %d", got, wantLimit)
	}

	// The first pod takes more than half of what is allocatable, so the
	// second does not fit.
	half := fmt.Sprintf("%dm", allocCPU/2+100)
	d.mustKubectl("1.33", cpuPod("first", half), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "first", "1/1")
	d.mustKubectl("1.33", cpuPod("second", half), "apply", "-f", "-")
	const want = "0/1 nodes are available: 1 Insufficient cpu."
	d.waitFor("second to be unschedulable", 30*time.Second, func() (bool, error) {
		p := d.pod("default", "second")
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
				if c.Reason != "Unschedulable" || c.Message != want {
					return false, fmt.Errorf("PodScheduled False %s %q, want Unschedulable %q", c.Reason, c.Message, want)
				}
				return p.Spec.NodeName == "" && p.Status.Phase == corev1.PodPending, nil
			}
		}
		return false, nil
	})
	events := d.mustKubectl("1.27", "", "get", "events", "--field-selector", "involvedObject.name=second,reason=FailedScheduling",
		"-o", "jsonpath={.items[*].reportingComponent} {.items[*].message}")
	if !strings.Contains(events, "default-scheduler") || !strings.Contains(events, want) {
		t.Errorf("FailedScheduling event: %q", events)
	}
	if out := d.mustKubectl("1.33", "", "describe", "pod", "second"); !strings.Contains(out, "FailedScheduling") {
		t.Errorf("describe lacks the FailedScheduling event:\n%s", out)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "first")
	d.waitRunning("1.33", "default", "second", "1/1")

	// A node selector the node does not match, until it does.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata:
  name: picky
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {disktype: ssd}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`, "apply", "-f", "-")
	d.waitFor("picky to be unschedulable", 30*time.Second, func() (bool, error) {
		p := d.pod("default", "picky")
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == "Unschedulable" {
				return c.Message == "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.", nil
			}
		}
		return false, nil
	})
	d.mustKubectl("1.33", "", "label", "node", node.Name, "disktype=ssd")
	d.waitRunning("1.33", "default", "picky", "1/1")

	// An untolerated taint keeps new pods off, until it goes.
	d.mustKubectl("1.33", "", "taint", "node", node.Name, "team=blue:NoSchedule")
	d.mustKubectl("1.33", "", "run", "outsider", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600")
	d.waitFor("outsider to be unschedulable", 30*time.Second, func() (bool, error) {
		for _, c := range d.pod("default", "outsider").Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Reason == "Unschedulable" {
				return c.Message == "0/1 nodes are available: 1 node(s) had untolerated taint {team: blue}.", nil
			}
		}
		return false, nil
	})
	d.mustKubectl("1.33", "", "taint", "node", node.Name, "team=blue:NoSchedule-")
	d.waitRunning("1.33", "default", "outsider", "1/1")

	// A pod bound by its author to another node is that node's: it stays
	// Pending here, with no scheduling condition, as upstream.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata:
  name: elsewhere
spec:
  nodeName: some-other-node
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, "apply", "-f", "-")
	time.Sleep(2 * time.Second) // nothing is expected to happen; give it the chance
	if p := d.pod("default", "elsewhere"); p.Status.Phase != corev1.PodPending || len(p.Status.Conditions) != 0 || len(p.Status.ContainerStatuses) != 0 {
		t.Errorf("a pod bound to another node: %+v", p.Status)
	}
}

// TestKubeletAdmission: a pod its author bound to this node skips the
// scheduler, so the kubelet's own admission refuses it when it does not
// fit: phase Failed, reason OutOfcpu with upstream's message, which
// kubectl shows as its STATUS; a node selector the node does not match
// fails it as NodeAffinity.
func TestKubeletAdmission(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	var node *corev1.Node
	d.waitFor("the node", 30*time.Second, func() (bool, error) {
		nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) == 0 {
			return false, nil
		}
		node = &nodes.Items[0]
		return true, nil
	})
	allocCPU := node.Status.Allocatable.Cpu().MilliValue()
	tooMuch := fmt.Sprintf("%dm", allocCPU+1000)
	bound := func(name, cpu, extra string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  nodeName: %s
  terminationGracePeriodSeconds: 1
%s  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {cpu: "%s"}
`, name, node.Name, extra, cpu)
	}
	d.mustKubectl("1.33", bound("greedy", tooMuch, ""), "apply", "-f", "-")
	d.mustKubectl("1.27", bound("picky", tooMuch, "  nodeSelector: {disktype: ssd}\n"), "apply", "-f", "-")
	for _, name := range []string{"greedy", "picky"} {
		d.waitFor(name+" to be rejected", 60*time.Second, func() (bool, error) {
			return d.pod("default", name).Status.Phase == corev1.PodFailed, nil
		})
	}
	want := map[string][2]string{
		"greedy": {"OutOfcpu", fmt.Sprintf("Pod was rejected: Node didn't have enough resource: cpu, requested: %d, used: 0, capacity: %d", allocCPU+1000, allocCPU)},
		// Resources come before affinity, as upstream's AdmissionCheck:
		// picky asks for too much too.
		"picky": {"OutOfcpu", fmt.Sprintf("Pod was rejected: Node didn't have enough resource: cpu, requested: %d, used: 0, capacity: %d", allocCPU+1000, allocCPU)},
	}
	for name, w := range want {
		p := d.pod("default", name)
		if p.Status.Reason != w[0] || p.Status.Message != w[1] {
			t.Errorf("%s: %q %q, want %q %q", name, p.Status.Reason, p.Status.Message, w[0], w[1])
		}
		if len(p.Status.ContainerStatuses) != 0 && p.Status.ContainerStatuses[0].State.Running != nil {
			t.Errorf("%s: a container runs: %+v", name, p.Status.ContainerStatuses)
		}
		for _, v := range []string{"1.27", "1.33"} {
			if row := d.podRow(v, "default", name); len(row) < 3 || row[2] != w[0] {
				t.Errorf("kubectl %s get pod %s: %v", v, name, row)
			}
		}
	}
	events := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=greedy,reason=OutOfcpu", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "Node didn't have enough resource: cpu") {
		t.Errorf("OutOfcpu event: %q", events)
	}

	// Within the node's room, the node selector is what fails.
	d.mustKubectl("1.33", bound("elsewhere", "10m", "  nodeSelector: {disktype: ssd}\n"), "apply", "-f", "-")
	d.waitFor("elsewhere to be rejected", 60*time.Second, func() (bool, error) {
		return d.pod("default", "elsewhere").Status.Phase == corev1.PodFailed, nil
	})
	p := d.pod("default", "elsewhere")
	const affinity = "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
	if p.Status.Reason != "NodeAffinity" || p.Status.Message != affinity {
		t.Errorf("elsewhere: %q %q, want NodeAffinity %q", p.Status.Reason, p.Status.Message, affinity)
	}
	if row := d.podRow("1.33", "default", "elsewhere"); len(row) < 3 || row[2] != "NodeAffinity" {
		t.Errorf("kubectl get pod elsewhere: %v", row)
	}
}

// TestPriorityClasses: scheduling.k8s.io/v1 PriorityClasses are served
// with the two system classes made at start; a pod gets its class's
// priority and preemption policy from the Priority admission plugin, and
// an unknown class or a priority of its own is refused with upstream's
// message.
func TestPriorityClasses(t *testing.T) {
	d := startDaemon(t)
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "get", "priorityclasses")
		for _, want := range []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "PREEMPTIONPOLICY", "system-cluster-critical", "2000000000", "system-node-critical", "2000001000", "PreemptLowerPriority"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl %s get priorityclasses lacks %q:\n%s", v, want, out)
			}
		}
	}
	d.mustKubectl("1.33", `apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: batch-low}
value: 100
preemptionPolicy: Never
description: low priority batch work
`, "apply", "-f", "-")
	if out := d.mustKubectl("1.27", "", "get", "pc", "batch-low", "--no-headers"); !strings.Contains(out, "100") || !strings.Contains(out, "Never") {
		t.Errorf("kubectl get pc batch-low: %q", out)
	}
	pod := func(name, extra string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n" + extra +
			"  containers: [{name: app, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}]\n"
	}
	d.mustKubectl("1.33", pod("plain", "")+"---\n"+pod("critical", "  priorityClassName: system-node-critical\n")+"---\n"+
		pod("batch", "  priorityClassName: batch-low\n"), "apply", "-f", "-")
	for name, want := range map[string]string{"plain": "0 PreemptLowerPriority", "critical": "2000001000 PreemptLowerPriority", "batch": "100 Never"} {
		got := d.mustKubectl("1.33", "", "get", "pod", name, "-o", "jsonpath={.spec.priority} {.spec.preemptionPolicy}")
		if got != want {
			t.Errorf("%s: priority and policy %q, want %q", name, got, want)
		}
	}
	for _, tc := range []struct{ name, extra, want string }{
		{"unknown", "  priorityClassName: nope\n", `pods "unknown" is forbidden: no PriorityClass with name nope was found`},
		{"selfmade", "  priorityClassName: system-cluster-critical\n  priority: 5\n",
			`pods "selfmade" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 2000000000 from the given PriorityClass name`},
	} {
		_, errOut, err := d.kubectl("1.33", pod(tc.name, tc.extra), "create", "-f", "-")
		if err == nil || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: %v %q, want %q", tc.name, err, errOut, tc.want)
		}
	}
	if _, errOut, err := d.kubectl("1.33", "", "delete", "priorityclass", "system-node-critical"); err == nil ||
		!strings.Contains(errOut, "this is a system priority class and cannot be deleted") {
		t.Errorf("deleting a system class: %v %q", err, errOut)
	}
	// The pod runs; an update that leaves the priority out keeps it.
	d.waitRunning("1.33", "default", "critical", "1/1")
	p := d.pod("default", "critical")
	p.Spec.Priority, p.Spec.PreemptionPolicy = nil, nil
	p.Labels = map[string]string{"touched": "yes"}
	updated, err := d.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("updating without the priority: %v", err)
	}
	if updated.Spec.Priority == nil || *updated.Spec.Priority != 2000001000 || updated.Spec.PreemptionPolicy == nil {
		t.Errorf("after the update: priority %v, policy %v", updated.Spec.Priority, updated.Spec.PreemptionPolicy)
	}
}
