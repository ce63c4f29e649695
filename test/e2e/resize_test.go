package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestResize: seed 000's frontend pod resized in place with kubectl 1.33
// (`patch --subresource resize`; kubectl 1.32 is the first to have it):
// the app container's and the pod's cgroups take the new values without
// a restart, the status shows the allocated and the actual resources, the
// events say so; a resize that would change the QoS class, remove a
// limit or change another resource is refused with upstream's messages,
// as is a resources change through the pod itself; one larger than the
// node stays PodResizePending/Infeasible; one a quota cannot hold is
// refused with upstream's exceeded-quota message.
func TestResize(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", frontendPod, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "frontend", "2/2")
	pod := d.pod("default", "frontend")
	podCg := d.cgroupRoot + "/kubepods/burstable/pod" + string(pod.UID)
	appID := ""
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == "app" {
			_, appID, _ = strings.Cut(cs.ContainerID, "://")
		}
	}
	resize := func(patch string) (string, string, error) {
		return d.kubectl("1.33", "", "patch", "pod", "frontend", "--subresource", "resize", "--patch", patch)
	}
	if _, stderr, err := resize(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"500m","memory":"96Mi"},"limits":{"cpu":"1","memory":"192Mi"}}}]}}`); err != nil {
		t.Fatalf("resize: %v %s", err, stderr)
	}
	d.waitFor("the app container's new limits", 30*time.Second, func() (bool, error) {
		return d.v1Value(t, "memory", podCg+"/"+appID, "memory.limit_in_bytes") == "201326592", nil
	})
	for _, tc := range []struct{ ctrl, cgroup, file, want string }{
		{"cpu", podCg + "/" + appID, "cpu.shares", "512"},
		{"cpu", podCg + "/" + appID, "cpu.cfs_quota_us", "100000"},
		{"cpu", podCg, "cpu.shares", "768"},
		{"cpu", podCg, "cpu.cfs_quota_us", "150000"},
		{"memory", podCg, "memory.limit_in_bytes", "335544320"},
	} {
		if got := d.v1Value(t, tc.ctrl, tc.cgroup, tc.file); got != tc.want {
			t.Errorf("%s %s = %s, want %s", tc.cgroup, tc.file, got, tc.want)
		}
	}
	d.waitFor("the status to show the new resources", 15*time.Second, func() (bool, error) {
		for _, cs := range d.pod("default", "frontend").Status.ContainerStatuses {
			if cs.Name == "app" && cs.Resources != nil && cs.Resources.Limits.Memory().String() == "192Mi" {
				return true, nil
			}
		}
		return false, nil
	})
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "get", "pod", "frontend", "-o",
			`jsonpath={.status.containerStatuses[?(@.name=="app")].allocatedResources.cpu} {.status.containerStatuses[?(@.name=="app")].resources.limits.cpu} {.status.containerStatuses[?(@.name=="app")].restartCount} {.metadata.generation}`)
		if out != "500m 1 0 2" {
			t.Errorf("kubectl %s: allocated cpu, actual cpu limit, restarts, generation: %q, want \"500m 1 0 2\"", v, out)
		}
	}
	events := strings.Join(d.events("default", "frontend"), "\n")
	if !strings.Contains(events, `ResizeCompleted: Pod resize completed: {"containers":[{"name":"app","resources":{"limits":{"cpu":"1","memory":"192Mi"},"requests":{"cpu":"500m","memory":"96Mi"}}}`) {
		t.Errorf("no ResizeCompleted event:\n%s", events)
	}

	// Refused resizes, and a resources change through the pod itself.
	for _, tc := range []struct{ patch, want string }{
		{`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"1","memory":"192Mi"}}},{"name":"log-aggregator","resources":{"requests":{"cpu":"500m","memory":"128Mi"}}}]}}`,
			`The Pod "frontend" is invalid: spec: Invalid value: "Burstable": Pod QOS Class may not change as a result of resizing`},
		{`{"spec":{"containers":[{"name":"app","resources":{"requests":{"ephemeral-storage":"1Gi"}}}]}}`,
			`The Pod "frontend" is invalid: spec: Forbidden: only cpu and memory resources are mutable`},
		{`{"spec":{"containers":[{"name":"app","resources":{"limits":{"cpu":null}}}]}}`,
			`The Pod "frontend" is invalid: spec.containers[0].resources.limits: Forbidden: resource limits cannot be removed`},
	} {
		if _, stderr, err := resize(tc.patch); err == nil || !strings.Contains(stderr, tc.want) {
			t.Errorf("resize %s: %v %s, want %s", tc.patch, err, stderr, tc.want)
		}
	}
	if _, stderr, err := d.kubectl("1.27", "", "patch", "pod", "frontend", "--patch", `{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"400m"}}}]}}`); err == nil ||
		!strings.Contains(stderr, "spec: Forbidden: pod updates may not change fields other than") {
		t.Errorf("a resources change through the pod: %v %s", err, stderr)
	}

	// Larger than the node: pending, Infeasible, nothing changes.
	if _, stderr, err := resize(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"100"},"limits":{"cpu":"100"}}}]}}`); err != nil {
		t.Fatalf("resize: %v %s", err, stderr)
	}
	d.waitFor("PodResizePending", 15*time.Second, func() (bool, error) {
		for _, c := range d.pod("default", "frontend").Status.Conditions {
			if c.Type == corev1.PodResizePending {
				if c.Reason != "Infeasible" || !strings.HasPrefix(c.Message, "Node didn't have enough capacity: cpu, requested: 100250, capacity: ") {
					t.Errorf("PodResizePending %s: %s", c.Reason, c.Message)
				}
				return true, nil
			}
		}
		return false, nil
	})
	if got := d.v1Value(t, "cpu", podCg+"/"+appID, "cpu.cfs_quota_us"); got != "100000" {
		t.Errorf("an infeasible resize changed the quota to %s", got)
	}
	if out := d.mustKubectl("1.33", "", "describe", "pod", "frontend"); !strings.Contains(out, "PodResizePending") {
		t.Errorf("describe does not show PodResizePending:\n%s", out)
	}
	if _, stderr, err := resize(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"500m"},"limits":{"cpu":"1"}}}]}}`); err != nil {
		t.Fatalf("resize back: %v %s", err, stderr)
	}
	d.waitFor("PodResizePending to go", 15*time.Second, func() (bool, error) {
		for _, c := range d.pod("default", "frontend").Status.Conditions {
			if c.Type == corev1.PodResizePending {
				return false, nil
			}
		}
		return true, nil
	})

	// A quota: a resize that charges more than it allows is refused.
	d.mustKubectl("1.33", "", "create", "quota", "compute", "--hard=requests.cpu=1,limits.memory=1Gi")
	d.waitFor("the quota's status", 10*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "get", "quota", "compute", "-o", "jsonpath={.status.used.requests\\.cpu}")
		return out == "750m", nil
	})
	_, stderr, err := resize(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"800m"}}}]}}`)
	if want := `pods "frontend" is forbidden: exceeded quota: compute, requested: requests.cpu=300m, used: requests.cpu=750m, limited: requests.cpu=1`; err == nil || !strings.Contains(stderr, want) {
		t.Errorf("resize over the quota: %v %s, want %s", err, stderr, want)
	}
	if _, stderr, err := resize(`{"spec":{"containers":[{"name":"app","resources":{"requests":{"cpu":"400m"}}}]}}`); err != nil {
		t.Errorf("a resize within the quota: %v %s", err, stderr)
	}
}
