package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running(ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func waiting(reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
}

func terminated(code int32, reason string) corev1.ContainerStatus {
	return corev1.ContainerStatus{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason}}}
}

func TestPrintPod(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-90 * time.Second))
	two := []corev1.Container{{Name: "a"}, {Name: "b"}}
	restarted := running(true)
	restarted.RestartCount = 3
	restarted.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(now.Add(-12 * time.Second))}
	deleting := metav1.NewTime(now)
	always := corev1.ContainerRestartPolicyAlways
	started := true
	sidecarStatus := running(true)
	sidecarStatus.Started = &started
	sidecarStatus.Name = "s"
	for _, tc := range []struct {
		desc                      string
		pod                       corev1.Pod
		ready, status, restartStr string
	}{
		{"no status yet", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: corev1.PodPending}}, "0/2", "Pending", "0"},
		{"creating", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting("ContainerCreating"), waiting("ContainerCreating")}}}, "0/2", "ContainerCreating", "0"},
		{"running", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{running(true), running(true)}}}, "2/2", "Running", "0"},
		{"first container's state wins", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			ContainerStatuses: []corev1.ContainerStatus{waiting("ErrImagePull"), waiting("ContainerCreating")}}}, "0/2", "ErrImagePull", "0"},
		{"completed beside running, not ready", corev1.Pod{Spec: corev1.PodSpec{Containers: two}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{terminated(0, "Completed"), running(true)}}}, "1/2", "NotReady", "0"},
		{"exit code without reason", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1]}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{terminated(3, "")}}}, "0/1", "ExitCode:3", "0"},
		{"restarts with age", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1]}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{restarted}}}, "1/1", "Running", "3 (12s ago)"},
		{"terminating", corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &deleting}, Spec: corev1.PodSpec{Containers: two[:1]},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{running(true)}}}, "1/1", "Terminating", "0"},
		{"init counter", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: two}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{waiting("PodInitializing"), waiting("PodInitializing")}}}, "0/1", "Init:0/2", "0"},
		{"init failed", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: two}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{terminated(0, "Completed"), terminated(1, "Error")}}}, "0/1", "Init:Error", "0"},
		{"started sidecar counts", corev1.Pod{Spec: corev1.PodSpec{Containers: two[:1], InitContainers: []corev1.Container{{Name: "s", RestartPolicy: &always}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, InitContainerStatuses: []corev1.ContainerStatus{sidecarStatus},
				ContainerStatuses: []corev1.ContainerStatus{running(true)}}}, "2/2", "Running", "0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			tc.pod.Name, tc.pod.CreationTimestamp = "web", created
			cells, _ := printPod(&tc.pod, now)
			if cells[1] != tc.ready || cells[2] != tc.status || cells[3] != tc.restartStr || cells[4] != "90s" {
				t.Fatalf("got READY=%v STATUS=%v RESTARTS=%v AGE=%v, want %s %s %s 90s", cells[1], cells[2], cells[3], cells[4], tc.ready, tc.status, tc.restartStr)
			}
		})
	}
}
