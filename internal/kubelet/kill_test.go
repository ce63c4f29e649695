package kubelet

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestKillContainerGrace: the stop signal's timeout is the pod's deletion
// grace, else a failing probe's own terminationGracePeriodSeconds, else
// the pod's, at least 2 s; an override (eviction) wins; a failing preStop
// hook runs first and is reported as FailedPreStopHook with upstream's
// fixed text.
func TestKillContainerGrace(t *testing.T) {
	i64 := func(v int64) *int64 { return &v }
	failingPreStop := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	for _, tc := range []struct {
		name       string
		podGrace   *int64
		deletion   *int64
		probeGrace *int64
		override   *int64
		lifecycle  *corev1.Lifecycle
		wantStops  []string
		wantEvents []string
	}{
		{name: "pod's grace", podGrace: i64(30), wantStops: []string{"app@30"},
			wantEvents: []string{"Killing: Stopping container app"}},
		{name: "a failing probe's own grace", podGrace: i64(30), probeGrace: i64(5), wantStops: []string{"app@5"}},
		{name: "deletion grace over the probe's", podGrace: i64(30), deletion: i64(7), probeGrace: i64(5), wantStops: []string{"app@7"}},
		{name: "at least 2 s", podGrace: i64(0), wantStops: []string{"app@2"}},
		{name: "override", podGrace: i64(30), override: i64(0), wantStops: []string{"app@2"}},
		{name: "failing preStop hook", podGrace: i64(30), lifecycle: failingPreStop, wantStops: []string{"exec:app", "app@30"},
			wantEvents: []string{"Killing: Stopping container app", "FailedPreStopHook: PreStopHook failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := newTestKubelet(t)
			tk.rt.exec = func(string, []string) (*runtimeapi.ExecSyncResponse, error) {
				return nil, errors.New("drain: not found")
			}
			app := ctr("app")
			app.Lifecycle = tc.lifecycle
			tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
				TerminationGracePeriodSeconds: tc.podGrace, Containers: []corev1.Container{app}}})
			pod := tk.sync(t, "web")
			pod.DeletionGracePeriodSeconds = tc.deletion
			tk.rt.mu.Lock()
			id := tk.rt.newestLocked("app").status.Id
			tk.rt.stops = nil
			tk.rt.mu.Unlock()
			var probe *corev1.Probe
			if tc.probeGrace != nil {
				probe = &corev1.Probe{TerminationGracePeriodSeconds: tc.probeGrace}
			}
			target := killTarget{id: id, spec: &pod.Spec.Containers[0], fieldPath: "spec.containers{app}", probe: probe}
			if err := tk.killContainer(context.Background(), pod, target, tc.override, nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tk.rt.stops, tc.wantStops) {
				t.Errorf("runtime calls %q, want %q", tk.rt.stops, tc.wantStops)
			}
			events := tk.eventsFor("spec.containers{app}")
			for _, want := range tc.wantEvents {
				if !slices.Contains(events, want) {
					t.Errorf("events %q lack %q", events, want)
				}
			}
		})
	}
}

// TestContainerLostByTheRuntime: a running container that the runtime no
// longer knows ends as ContainerStatusUnknown with exit code 137 and
// upstream's message, counted as a restart (the new instance is made to
// fail, so that none takes its place in the status).
func TestContainerLostByTheRuntime(t *testing.T) {
	tk := newTestKubelet(t)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}})
	tk.sync(t, "web")
	if pod := tk.sync(t, "web"); status(pod, "app").State.Running == nil {
		t.Fatalf("not running: %+v", status(pod, "app").State)
	}
	tk.rt.mu.Lock()
	delete(tk.rt.containers, tk.rt.newestLocked("app").status.Id)
	tk.rt.createErr = errors.New("no room")
	tk.rt.mu.Unlock()
	pod := tk.sync(t, "web")
	cs := status(pod, "app")
	last := cs.LastTerminationState.Terminated
	if last == nil || last.Reason != "ContainerStatusUnknown" || last.ExitCode != 137 ||
		last.Message != "The container could not be located when the pod was deleted.  The container used to be Running" {
		t.Fatalf("lastState %+v", cs.LastTerminationState)
	}
	if cs.RestartCount != 1 {
		t.Errorf("restartCount %d, want 1", cs.RestartCount)
	}
}
