package kubelet

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func resources(reqCPU, reqMem, limCPU, limMem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(reqCPU), corev1.ResourceMemory: resource.MustParse(reqMem)},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limCPU), corev1.ResourceMemory: resource.MustParse(limMem)},
	}
}

// resize changes the container's resources in the API's copy of the pod,
// as the pods/resize subresource does.
func (tk *testKubelet) resize(t *testing.T, name, container string, r corev1.ResourceRequirements) {
	t.Helper()
	pod := tk.api.pods["default/"+name].DeepCopy()
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == container {
			pod.Spec.Containers[i].Resources = r
		}
	}
	pod.Generation++
	tk.api.pods["default/"+name] = pod
	tk.mu.Lock()
	tk.pods[pod.UID] = pod
	tk.mu.Unlock()
}

// TestResize: a resize that fits is allocated and actuated in place
// (UpdateContainerResources with the new values, no restart), the status
// shows the allocated and actual resources and the events say so; one
// larger than the node is Infeasible and changes nothing; a container
// whose resizePolicy asks for a restart is restarted instead.
func TestResize(t *testing.T) {
	tk := newTestKubelet(t)
	app := ctr("app")
	app.Resources = resources("100m", "32Mi", "200m", "64Mi")
	restarting := ctr("restarting")
	restarting.Resources = resources("100m", "32Mi", "200m", "64Mi")
	restarting.ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: corev1.ResourceMemory, RestartPolicy: corev1.RestartContainer}}
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1}, Spec: corev1.PodSpec{Containers: []corev1.Container{app, restarting}}})
	tk.sync(t, "web")
	tk.sync(t, "web")

	// In place.
	tk.rt.stops = nil
	tk.resize(t, "web", "app", resources("150m", "48Mi", "300m", "96Mi"))
	pod := tk.sync(t, "web")
	if !slices.Equal(tk.rt.stops, []string{"update:app"}) {
		t.Fatalf("runtime calls %q, want one update of app", tk.rt.stops)
	}
	tk.rt.mu.Lock()
	got := tk.rt.newestLocked("app").status.Resources.GetLinux()
	tk.rt.mu.Unlock()
	if got.CpuShares != 153 || got.CpuQuota != 30000 || got.MemoryLimitInBytes != 96<<20 {
		t.Errorf("app's new cgroup values %v", got)
	}
	cs := status(pod, "app")
	if cs.RestartCount != 0 || cs.AllocatedResources.Cpu().String() != "150m" || cs.Resources == nil ||
		cs.Resources.Limits.Memory().String() != "96Mi" || cs.Resources.Requests.Cpu().String() != "150m" || cs.Resources.Limits.Cpu().String() != "300m" {
		t.Errorf("app's status: restarts %d, allocated %v, resources %v", cs.RestartCount, cs.AllocatedResources, cs.Resources)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodResizePending || c.Type == corev1.PodResizeInProgress {
			t.Errorf("condition %s left after the resize", c.Type)
		}
	}
	ev := strings.Join(tk.eventsFor("*"), "\n")
	for _, want := range []string{
		`ResizeStarted: Pod resize started: {"containers":[{"name":"app","resources":{"limits":{"cpu":"300m","memory":"96Mi"},"requests":{"cpu":"150m","memory":"48Mi"}}}`,
		`ResizeCompleted: Pod resize completed: {"containers":[{"name":"app"`,
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("events lack %q:\n%s", want, ev)
		}
	}

	// Infeasible: more CPU than the node has.
	tk.rt.stops = nil
	tk.resize(t, "web", "app", resources("1000", "48Mi", "1000", "96Mi"))
	pod = tk.sync(t, "web")
	var pending *corev1.PodCondition
	for i, c := range pod.Status.Conditions {
		if c.Type == corev1.PodResizePending {
			pending = &pod.Status.Conditions[i]
		}
	}
	capacity := tk.allocatable(corev1.ResourceCPU)
	want := fmt.Sprintf("Node didn't have enough capacity: cpu, requested: 1000100, capacity: %d", capacity.MilliValue())
	if pending == nil || pending.Reason != "Infeasible" || pending.Message != want {
		t.Errorf("PodResizePending %+v, want Infeasible %q", pending, want)
	}
	if len(tk.rt.stops) != 0 {
		t.Errorf("an infeasible resize changed the runtime: %q", tk.rt.stops)
	}
	if cs := status(pod, "app"); cs.AllocatedResources.Cpu().String() != "150m" {
		t.Errorf("allocated %v, want the previous allocation", cs.AllocatedResources)
	}
	if ev := tk.eventsFor("*"); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "ResizeInfeasible: Pod resize Infeasible: {") }) {
		t.Errorf("no ResizeInfeasible event: %q", ev)
	}
	// Back to what fits: the pending condition goes.
	tk.resize(t, "web", "app", resources("150m", "48Mi", "300m", "96Mi"))
	pod = tk.sync(t, "web")
	if slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodResizePending }) {
		t.Error("PodResizePending stays after the spec went back")
	}

	// resizePolicy RestartContainer for memory: restarted, not updated.
	tk.rt.stops = nil
	tk.resize(t, "web", "restarting", resources("100m", "48Mi", "200m", "96Mi"))
	tk.sync(t, "web")
	pod = tk.sync(t, "web")
	if slices.Contains(tk.rt.stops, "update:restarting") || !slices.ContainsFunc(tk.rt.stops, func(s string) bool { return strings.HasPrefix(s, "restarting@") }) {
		t.Errorf("runtime calls %q, want a stop of restarting and no update", tk.rt.stops)
	}
	if cs := status(pod, "restarting"); cs.RestartCount != 1 || cs.Resources == nil || cs.Resources.Limits.Memory().String() != "96Mi" {
		t.Errorf("restarting: restarts %d, resources %v", cs.RestartCount, cs.Resources)
	}
	if ev := tk.eventsFor("spec.containers{restarting}"); !slices.Contains(ev, "Killing: Container restarting resize requires restart") {
		t.Errorf("events %q", ev)
	}
}
