package kubelet

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func ctr(name string) corev1.Container { return corev1.Container{Name: name} }

func sidecar(name string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.Container{Name: name, RestartPolicy: &always}
}

func status(pod *corev1.Pod, name string) corev1.ContainerStatus {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name == name {
			return cs
		}
	}
	return corev1.ContainerStatus{}
}

func condition(pod *corev1.Pod, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range pod.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func waitingReasonOf(cs corev1.ContainerStatus) string {
	if cs.State.Waiting == nil {
		return ""
	}
	return cs.State.Waiting.Reason
}

// TestInitContainersRunInOrder: init containers run one at a time, each to
// completion; a failing one is restarted at once, then with the
// CrashLoopBackOff delays (under Always and OnFailure), or fails the pod
// (under Never); the app container starts only once all are done.
func TestInitContainersRunInOrder(t *testing.T) {
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever} {
		t.Run(string(policy), func(t *testing.T) {
			tk := newTestKubelet(t)
			tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{RestartPolicy: policy,
				InitContainers: []corev1.Container{ctr("first"), ctr("second")}, Containers: []corev1.Container{ctr("app")}}})
			pod := tk.sync(t, "web")
			if got := tk.rt.states(); got != "first=RUNNING" {
				t.Fatalf("first sync: %s", got)
			}
			if pod.Status.Phase != corev1.PodPending || waitingReasonOf(status(pod, "second")) != "PodInitializing" ||
				waitingReasonOf(status(pod, "app")) != "PodInitializing" {
				t.Fatalf("status %+v", pod.Status)
			}
			if c := condition(pod, corev1.PodInitialized); c.Status != corev1.ConditionFalse || c.Reason != "ContainersNotInitialized" ||
				c.Message != "containers with incomplete status: [first second]" {
				t.Errorf("Initialized: %+v", c)
			}
			tk.rt.exit(t, "first", 0)
			pod = tk.sync(t, "web")
			if got := tk.rt.states(); got != "first=EXITED second=RUNNING" {
				t.Fatalf("after the first: %s", got)
			}
			if !status(pod, "first").Ready {
				t.Errorf("a finished init container is ready")
			}
			tk.rt.exit(t, "second", 1)
			pod = tk.sync(t, "web")
			if policy == corev1.RestartPolicyNever {
				if pod.Status.Phase != corev1.PodFailed || tk.rt.instances("app") != 0 {
					t.Fatalf("Never: phase %s, app instances %d", pod.Status.Phase, tk.rt.instances("app"))
				}
				if c := condition(pod, corev1.PodInitialized); c.Status != corev1.ConditionFalse {
					t.Errorf("Initialized: %+v", c)
				}
				return
			}
			// The first restart is at once.
			if got := tk.rt.states(); got != "first=EXITED second=RUNNING" || status(pod, "second").RestartCount != 1 {
				t.Fatalf("first restart: %s, %+v", got, status(pod, "second"))
			}
			tk.rt.exit(t, "second", 1)
			pod = tk.sync(t, "web")
			second := status(pod, "second")
			if waitingReasonOf(second) != "CrashLoopBackOff" || !strings.HasPrefix(second.State.Waiting.Message, "back-off 10s restarting failed container=second pod=web_default(uid-web)") ||
				second.LastTerminationState.Terminated == nil || second.LastTerminationState.Terminated.ExitCode != 1 {
				t.Fatalf("back-off: %+v", second)
			}
			if pod.Status.Phase != corev1.PodPending || tk.rt.instances("second") != 2 {
				t.Fatalf("phase %s, %d instances", pod.Status.Phase, tk.rt.instances("second"))
			}
			if ev := tk.eventsFor("spec.initContainers{second}"); !slices.Contains(ev, "BackOff: Back-off restarting failed container second in pod web_default(uid-web)") {
				t.Errorf("events %q", ev)
			}
			tk.clock.Step(10 * time.Second)
			tk.sync(t, "web")
			tk.rt.exit(t, "second", 0)
			pod = tk.sync(t, "web")
			if got := tk.rt.states(); got != "app=RUNNING first=EXITED second=EXITED" {
				t.Fatalf("initialized: %s", got)
			}
			pod = tk.sync(t, "web")
			if pod.Status.Phase != corev1.PodRunning || condition(pod, corev1.PodInitialized).Status != corev1.ConditionTrue ||
				status(pod, "second").RestartCount != 2 {
				t.Errorf("running: %+v", pod.Status)
			}
		})
	}
}

// TestSidecars: a sidecar starts before the next init container and keeps
// running (restarted on any exit); once the main container is done under
// OnFailure, the sidecars are stopped, last one first, and the pod
// succeeds.
func TestSidecars(t *testing.T) {
	tk := newTestKubelet(t)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job"}, Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure,
		InitContainers: []corev1.Container{sidecar("proxy"), ctr("setup"), sidecar("logger")}, Containers: []corev1.Container{ctr("main")}}})
	for i, want := range []string{
		"proxy=RUNNING",
		"proxy=RUNNING setup=RUNNING",
	} {
		tk.sync(t, "job")
		if got := tk.rt.states(); got != want {
			t.Fatalf("sync %d: %s, want %s", i+1, got, want)
		}
	}
	tk.rt.exit(t, "setup", 0)
	tk.sync(t, "job")
	tk.sync(t, "job")
	if got := tk.rt.states(); got != "logger=RUNNING main=RUNNING proxy=RUNNING setup=EXITED" {
		t.Fatalf("initialized: %s", got)
	}
	pod := tk.sync(t, "job")
	if pod.Status.Phase != corev1.PodRunning || !status(pod, "proxy").Ready || condition(pod, corev1.ContainersReady).Status != corev1.ConditionTrue {
		t.Fatalf("running: %+v", pod.Status)
	}
	// A sidecar that exits is restarted, whatever the pod's policy.
	tk.rt.exit(t, "proxy", 0)
	pod = tk.sync(t, "job")
	if tk.rt.instances("proxy") != 2 || status(pod, "proxy").RestartCount != 1 {
		t.Fatalf("sidecar restart: %s, %+v", tk.rt.states(), status(pod, "proxy"))
	}
	tk.rt.exit(t, "main", 0)
	tk.rt.stops = nil
	pod = tk.sync(t, "job")
	if got := strings.Join(tk.rt.stops, " "); got != "logger@30 proxy@30" {
		t.Errorf("stops %s, want the later sidecar first", got)
	}
	pod = tk.sync(t, "job")
	if pod.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase %s, want Succeeded: %+v", pod.Status.Phase, pod.Status)
	}
}

// TestTerminationOrder: on deletion, regular containers are stopped
// together; sidecars get their preStop hooks at once but their stop signal
// only after every regular container and every later sidecar stopped; the
// grace period is the deletion's; the object goes once all is gone.
func TestTerminationOrder(t *testing.T) {
	tk := newTestKubelet(t)
	hook := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"drain"}}}}
	early, late := sidecar("early"), sidecar("late")
	early.Lifecycle = hook
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{early, late}, Containers: []corev1.Container{ctr("a"), ctr("b")}}})
	for range 4 {
		tk.sync(t, "web")
	}
	if got := tk.rt.states(); got != "a=RUNNING b=RUNNING early=RUNNING late=RUNNING" {
		t.Fatalf("running: %s", got)
	}
	tk.rt.stops = nil
	pod := tk.sync(t, "web")
	grace := int64(7)
	pod.DeletionTimestamp, pod.DeletionGracePeriodSeconds = &metav1.Time{Time: tk.clock.Now().Add(7 * time.Second)}, &grace
	tk.api.pods["default/web"] = pod
	if p := tk.sync(t, "web"); p != nil {
		t.Fatalf("the pod object is still there: %+v", p.Status)
	}
	stops := tk.rt.stops
	pos := func(s string) int { return slices.Index(stops, s) }
	if len(stops) != 5 || pos("exec:early") < 0 || pos("late@7") < 0 || pos("early@7") < 0 ||
		pos("late@7") < pos("a@7") || pos("late@7") < pos("b@7") || pos("early@7") < pos("late@7") {
		t.Errorf("order %q", stops)
	}
	if ev := tk.eventsFor("spec.containers{a}"); !slices.Contains(ev, "Killing: Stopping container a") {
		t.Errorf("events %q", ev)
	}
	if n := len(tk.rt.containers) + len(tk.rt.sandboxes); n != 0 {
		t.Errorf("%d runtime objects left", n)
	}
}

// TestCrashLoopBackOff: a container that keeps failing is restarted at
// once, then after 10 s, then after 20 s, measured from its last exit.
func TestCrashLoopBackOff(t *testing.T) {
	tk := newTestKubelet(t)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}})
	tk.sync(t, "web")
	tk.rt.exit(t, "app", 1)
	tk.sync(t, "web")
	if tk.rt.instances("app") != 2 {
		t.Fatal("the first restart is not at once")
	}
	for _, delay := range []time.Duration{10 * time.Second, 20 * time.Second} {
		tk.rt.exit(t, "app", 1)
		pod := tk.sync(t, "web")
		cs := status(pod, "app")
		want := "back-off " + delay.String() + " restarting failed container=app pod=web_default(uid-web)"
		if waitingReasonOf(cs) != "CrashLoopBackOff" || cs.State.Waiting.Message != want {
			t.Fatalf("got %+v, want %s", cs.State, want)
		}
		n := tk.rt.instances("app")
		tk.clock.Step(delay - time.Second)
		tk.sync(t, "web")
		if tk.rt.instances("app") != n {
			t.Fatalf("restarted before the %s back-off ended", delay)
		}
		if !tk.worker.retryAt.IsZero() && tk.worker.retryAt.After(time.Now().Add(2*time.Second)) {
			t.Errorf("the worker asks to come back at %s, after the back-off ends", tk.worker.retryAt)
		}
		tk.clock.Step(time.Second)
		tk.sync(t, "web")
		if tk.rt.instances("app") != n+1 {
			t.Fatalf("not restarted after the %s back-off", delay)
		}
	}
	// The status keeps the two newest instances (state and lastState).
	pod := tk.sync(t, "web")
	cs := status(pod, "app")
	if cs.RestartCount != 3 || cs.State.Running == nil || cs.LastTerminationState.Terminated == nil {
		t.Errorf("status %+v", cs)
	}
}

// TestPostStartHookFailure: a failing postStart hook kills the container
// (FailedPostStartHook) and the container waits with PostStartHookError
// and the hook's output until it is restarted.
func TestPostStartHookFailure(t *testing.T) {
	tk := newTestKubelet(t)
	app := ctr("app")
	app.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "exit 3"}}}}
	tk.rt.exec = func(string, []string) (*runtimeapi.ExecSyncResponse, error) {
		return &runtimeapi.ExecSyncResponse{ExitCode: 3, Stderr: []byte("no\n")}, nil
	}
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{app}}})
	pod := tk.sync(t, "web")
	cs := status(pod, "app")
	want := `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_default(uid-web)" failed - error: command 'sh -c exit 3' exited with 3: no
, message: "no\n"`
	if waitingReasonOf(cs) != "PostStartHookError" || cs.State.Waiting.Message != want {
		t.Errorf("got %+v, want %s", cs.State, want)
	}
	ev := tk.eventsFor("spec.containers{app}")
	if !slices.Contains(ev, "FailedPostStartHook: PostStartHook failed") || !slices.Contains(ev, "Killing: FailedPostStartHook") {
		t.Errorf("events %q", ev)
	}
}

// TestActiveDeadline: a pod active longer than activeDeadlineSeconds fails
// with DeadlineExceeded and its containers are stopped.
func TestActiveDeadline(t *testing.T) {
	tk := newTestKubelet(t)
	deadline := int64(5)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{ActiveDeadlineSeconds: &deadline,
		Containers: []corev1.Container{ctr("app")}}})
	pod := tk.sync(t, "web")
	if pod.Status.Phase != corev1.PodRunning {
		t.Fatalf("phase %s", pod.Status.Phase)
	}
	if d := time.Until(tk.worker.retryAt); d < 4*time.Second || d > 6*time.Second {
		t.Errorf("the worker comes back in %s, want when the deadline passes", d)
	}
	tk.clock.Step(5 * time.Second)
	pod = tk.sync(t, "web")
	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "DeadlineExceeded" ||
		pod.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Fatalf("status %+v", pod.Status)
	}
	if got := tk.rt.states(); got != "app=EXITED" {
		t.Errorf("containers: %s", got)
	}
	if ev := tk.eventsFor(""); !slices.Contains(ev, "DeadlineExceeded: Pod was active on the node longer than the specified deadline") {
		t.Errorf("events %q", ev)
	}
}

// TestSidecarBackOff: a sidecar that keeps exiting is restarted at once,
// then after the CrashLoopBackOff delays, as a regular container is,
// while the main container keeps running.
func TestSidecarBackOff(t *testing.T) {
	tk := newTestKubelet(t)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{sidecar("proxy")}, Containers: []corev1.Container{ctr("main")}}})
	for range 3 {
		tk.sync(t, "web")
	}
	if got := tk.rt.states(); got != "main=RUNNING proxy=RUNNING" {
		t.Fatalf("running: %s", got)
	}
	tk.rt.exit(t, "proxy", 1)
	tk.sync(t, "web")
	if tk.rt.instances("proxy") != 2 {
		t.Fatal("the first restart is not at once")
	}
	tk.rt.exit(t, "proxy", 1)
	pod := tk.sync(t, "web")
	cs := status(pod, "proxy")
	want := "back-off 10s restarting failed container=proxy pod=web_default(uid-web)"
	if waitingReasonOf(cs) != "CrashLoopBackOff" || cs.State.Waiting.Message != want {
		t.Fatalf("got %+v, want %s", cs.State, want)
	}
	tk.clock.Step(9 * time.Second)
	tk.sync(t, "web")
	if tk.rt.instances("proxy") != 2 {
		t.Fatal("restarted before the 10s back-off ended")
	}
	tk.clock.Step(time.Second)
	tk.sync(t, "web")
	if tk.rt.instances("proxy") != 3 {
		t.Fatal("not restarted after the 10s back-off")
	}
	if got := tk.rt.states(); got != "main=RUNNING proxy=RUNNING" {
		t.Errorf("after the restart: %s", got)
	}
}

// TestSandboxAttemptAfterRestart: a worker that starts afresh (as after a
// restart of peapod) and finds the pod's sandbox dead makes the next
// attempt, which the runtime accepts, rather than attempt 0 again.
func TestSandboxAttemptAfterRestart(t *testing.T) {
	tk := newTestKubelet(t)
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{ctr("app")}}})
	tk.sync(t, "web")
	sandboxes, err := tk.rt.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{})
	if err != nil || len(sandboxes.Items) != 1 {
		t.Fatalf("sandboxes %v, %v", sandboxes, err)
	}
	first := sandboxes.Items[0]
	if _, err := tk.rt.StopPodSandbox(context.Background(), &runtimeapi.StopPodSandboxRequest{PodSandboxId: first.Id}); err != nil {
		t.Fatal(err)
	}
	tk.worker = &podWorker{uid: tk.worker.uid, reasons: map[string]waitingReason{}, firstSeen: tk.clock.Now()}
	pod := tk.sync(t, "web")
	sandboxes, _ = tk.rt.ListPodSandbox(context.Background(), &runtimeapi.ListPodSandboxRequest{})
	var attempts []uint32
	for _, sb := range sandboxes.Items {
		if sb.Id != first.Id {
			attempts = append(attempts, sb.Metadata.Attempt)
		}
	}
	if len(attempts) != 1 || attempts[0] != first.Metadata.Attempt+1 {
		t.Fatalf("new sandbox attempts %v, want [%d]", attempts, first.Metadata.Attempt+1)
	}
	if st := status(pod, "app"); st.State.Running == nil {
		t.Errorf("app after the new sandbox: %+v", st)
	}
}
