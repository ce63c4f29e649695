package prober

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	clocktesting "k8s.io/utils/clock/testing"
)

// recorder keeps events as "reason: message".
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) Eventf(_ runtime.Object, _, _, reason, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, reason+": "+fmt.Sprintf(format, args...))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// probeEnv is a Manager on a fake clock whose exec probes answer with the
// exit codes queued in codes (an error for -1), and whose pod status the
// test sets.
type probeEnv struct {
	m      *Manager
	clock  *clocktesting.FakeClock
	rec    *recorder
	pod    *corev1.Pod
	status corev1.PodStatus
	codes  []int32
	execs  int
}

func newProbeEnv(t *testing.T, c corev1.Container) *probeEnv {
	e := &probeEnv{clock: clocktesting.NewFakeClock(time.Unix(1000, 0)), rec: &recorder{}}
	e.pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-1"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{c}}}
	rt := &fakeExec{fn: func(*runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
		e.execs++
		if len(e.codes) == 0 {
			t.Fatal("unexpected probe")
		}
		code := e.codes[0]
		e.codes = e.codes[1:]
		if code < 0 {
			return nil, errors.New("exec failed: no such file")
		}
		return &runtimeapi.ExecSyncResponse{ExitCode: code, Stdout: []byte(fmt.Sprintf("exit %d", code))}, nil
	}}
	// A manager without workers of its own: the tests drive doProbe.
	e.m = NewManager(Config{Runtime: rt, Recorder: e.rec, Clock: e.clock, UserAgent: "kube-probe/1.37",
		Status: func(types.UID) (*corev1.PodStatus, bool) { return &e.status, true }})
	e.m.pods[e.pod.UID] = e.pod
	return e
}

// run sets the container running as instance id (started as given),
// started at the current fake time.
func (e *probeEnv) run(id string, started bool) {
	e.status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.2", ContainerStatuses: []corev1.ContainerStatus{{
		Name: "app", ContainerID: "peapod://" + id, Started: &started,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(e.clock.Now())}},
	}}}
}

func (e *probeEnv) worker(kind Kind) *worker {
	c := &e.pod.Spec.Containers[0]
	spec := map[Kind]*corev1.Probe{Liveness: c.LivenessProbe, Readiness: c.ReadinessProbe, Startup: c.StartupProbe}[kind]
	return newWorker(e.m, workerKey{e.pod.UID, c.Name, kind}, spec, c, "spec.containers{app}", false, e.pod.Spec.RestartPolicy)
}

func execProbe(failureThreshold, successThreshold, initialDelay int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: 1, TimeoutSeconds: 1, FailureThreshold: failureThreshold, SuccessThreshold: successThreshold, InitialDelaySeconds: initialDelay}
}

func (e *probeEnv) result(t *testing.T, kind Kind, id string) Result {
	t.Helper()
	r, ok := e.m.Result(kind, "peapod://"+id)
	if !ok {
		t.Fatalf("no %s result for %s", kind, id)
	}
	return r
}

func TestReadinessThresholds(t *testing.T) {
	e := newProbeEnv(t, corev1.Container{Name: "app", ReadinessProbe: execProbe(3, 2, 0)})
	w := e.worker(Readiness)
	e.run("c1", true)
	ctx := context.Background()
	// A new container is not ready until successThreshold successes.
	e.codes = []int32{0}
	w.doProbe(ctx)
	if r := e.result(t, Readiness, "c1"); r != Failure {
		t.Fatalf("after one success: %s", r)
	}
	e.codes = []int32{0}
	w.doProbe(ctx)
	if r := e.result(t, Readiness, "c1"); r != Success {
		t.Fatalf("after two successes: %s", r)
	}
	// Two failures are below the threshold; the third flips it.
	for i, want := range []Result{Success, Success, Failure} {
		e.codes = []int32{1}
		w.doProbe(ctx)
		if r := e.result(t, Readiness, "c1"); r != want {
			t.Fatalf("after failure %d: %s, want %s", i+1, r, want)
		}
	}
	if got := e.rec.take(); len(got) != 3 || got[0] != "Unhealthy: Readiness probe failed: exit 1" {
		t.Errorf("events %q", got)
	}
	// An error is thrown away (retried within the tick, reported once)
	// and does not count towards the threshold.
	e.codes = []int32{0, 0}
	w.doProbe(ctx)
	w.doProbe(ctx)
	e.codes = []int32{-1, -1, -1}
	w.doProbe(ctx)
	if got := e.rec.take(); len(got) != 1 || got[0] != "Unhealthy: Readiness probe errored and resulted in unknown state: exec failed: no such file" {
		t.Errorf("events %q", got)
	}
	if r := e.result(t, Readiness, "c1"); r != Success {
		t.Errorf("after an error: %s", r)
	}
}

func TestLivenessHoldsUntilNewContainer(t *testing.T) {
	e := newProbeEnv(t, corev1.Container{Name: "app", LivenessProbe: execProbe(2, 1, 0)})
	w := e.worker(Liveness)
	e.run("c1", true)
	ctx := context.Background()
	e.codes = []int32{1}
	w.doProbe(ctx)
	if r := e.result(t, Liveness, "c1"); r != Success {
		t.Fatalf("one failure below the threshold: %s", r)
	}
	e.codes = []int32{1}
	w.doProbe(ctx)
	if r := e.result(t, Liveness, "c1"); r != Failure {
		t.Fatalf("at the threshold: %s", r)
	}
	// On hold: no more probing of this instance.
	w.doProbe(ctx)
	w.doProbe(ctx)
	if e.execs != 2 {
		t.Errorf("probed %d times while on hold", e.execs)
	}
	// A new instance starts alive and is probed again.
	e.run("c2", true)
	e.codes = []int32{0}
	w.doProbe(ctx)
	if r := e.result(t, Liveness, "c2"); r != Success {
		t.Errorf("new instance: %s", r)
	}
	if _, ok := e.m.Result(Liveness, "peapod://c1"); ok {
		t.Error("the old instance's result is kept")
	}
}

func TestStartupGatesOtherProbes(t *testing.T) {
	c := corev1.Container{Name: "app", StartupProbe: execProbe(3, 1, 0), LivenessProbe: execProbe(1, 1, 0)}
	e := newProbeEnv(t, c)
	startup, liveness := e.worker(Startup), e.worker(Liveness)
	e.run("c1", false)
	ctx := context.Background()
	// Not started: liveness does not probe, startup does.
	liveness.doProbe(ctx)
	if e.execs != 0 {
		t.Fatal("liveness probed a container that has not started")
	}
	e.codes = []int32{1}
	startup.doProbe(ctx)
	if r := e.result(t, Startup, "c1"); r != Unknown {
		t.Fatalf("startup below threshold: %s", r)
	}
	e.codes = []int32{0}
	startup.doProbe(ctx)
	if r := e.result(t, Startup, "c1"); r != Success {
		t.Fatalf("startup: %s", r)
	}
	// Started: startup stops, liveness runs.
	e.run("c1", true)
	startup.doProbe(ctx)
	e.codes = []int32{0}
	liveness.doProbe(ctx)
	if e.execs != 3 {
		t.Errorf("%d probes, want 3", e.execs)
	}
}

func TestInitialDelay(t *testing.T) {
	e := newProbeEnv(t, corev1.Container{Name: "app", LivenessProbe: execProbe(1, 1, 5)})
	w := e.worker(Liveness)
	e.run("c1", true)
	ctx := context.Background()
	e.clock.Step(4 * time.Second)
	w.doProbe(ctx)
	if e.execs != 0 {
		t.Fatal("probed within the initial delay")
	}
	e.clock.Step(time.Second)
	e.codes = []int32{0}
	w.doProbe(ctx)
	if e.execs != 1 {
		t.Errorf("not probed once the delay passed")
	}
}

func TestProbingStops(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		kind   Kind
		policy corev1.RestartPolicy
		setup  func(e *probeEnv)
		goOn   bool
		want   Result
	}{
		{"liveness of a pod being deleted succeeds quietly", Liveness, corev1.RestartPolicyAlways, func(e *probeEnv) {
			e.pod.DeletionTimestamp = &metav1.Time{Time: e.clock.Now()}
		}, false, Success},
		{"readiness of a pod being deleted goes on", Readiness, corev1.RestartPolicyAlways, func(e *probeEnv) {
			e.pod.DeletionTimestamp = &metav1.Time{Time: e.clock.Now()}
			e.codes = []int32{0}
		}, true, Success},
		{"a terminated container that restarts", Readiness, corev1.RestartPolicyAlways, func(e *probeEnv) {
			e.status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
		}, true, Failure},
		{"a terminated container that does not", Liveness, corev1.RestartPolicyNever, func(e *probeEnv) {
			e.status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}
		}, false, Failure},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			e := newProbeEnv(t, corev1.Container{Name: "app", LivenessProbe: execProbe(1, 1, 0), ReadinessProbe: execProbe(1, 1, 0)})
			e.pod.Spec.RestartPolicy = tc.policy
			e.run("c1", true)
			tc.setup(e)
			w := e.worker(tc.kind)
			if goOn := w.doProbe(context.Background()); goOn != tc.goOn {
				t.Errorf("keep going: %v, want %v", goOn, tc.goOn)
			}
			if r := e.result(t, tc.kind, "c1"); r != tc.want {
				t.Errorf("result %s, want %s", r, tc.want)
			}
		})
	}
}

// TestWorkerRunsOnItsPeriod runs a real worker goroutine on the fake
// clock: it probes at once, then once per period, and tells the kubelet
// when the published result changes.
func TestWorkerRunsOnItsPeriod(t *testing.T) {
	c := corev1.Container{Name: "app", LivenessProbe: execProbe(2, 1, 0)}
	e := newProbeEnv(t, c)
	changes := make(chan types.UID, 10)
	e.m.cfg.OnChange = func(uid types.UID) { changes <- uid }
	probed := make(chan int32, 10)
	e.m.cfg.Runtime = &fakeExec{fn: func(*runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
		probed <- 1
		return &runtimeapi.ExecSyncResponse{ExitCode: 1}, nil
	}}
	e.run("c1", true)
	// Long after the kubelet started: no random initial wait.
	e.clock.Step(time.Minute)
	e.m.AddPod(e.pod)
	// The first probe, at once; the initial result is published first.
	<-changes
	<-probed
	for !e.clock.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-probed:
		t.Fatal("probed again before the period passed")
	case <-time.After(50 * time.Millisecond):
	}
	e.clock.Step(time.Second)
	<-probed
	if uid := <-changes; uid != e.pod.UID {
		t.Errorf("change for %s", uid)
	}
	if r := e.result(t, Liveness, "c1"); r != Failure {
		t.Errorf("after two failures: %s", r)
	}
	e.m.RemovePod(e.pod.UID)
	e.m.Stop()
	if len(e.m.workers) != 0 {
		t.Errorf("workers left: %v", e.m.workers)
	}
}

func TestUpdatePodStatus(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "uid-1"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}, {Name: "side", RestartPolicy: &always, ReadinessProbe: execProbe(1, 1, 0)}},
		Containers:     []corev1.Container{{Name: "plain"}, {Name: "slow", StartupProbe: execProbe(1, 1, 0)}, {Name: "ready", ReadinessProbe: execProbe(1, 1, 0)}},
	}}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	st := &corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{
			{Name: "init", ContainerID: "peapod://i", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{}}},
			{Name: "side", ContainerID: "peapod://s", State: running},
		},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: "plain", ContainerID: "peapod://p", State: running},
			{Name: "slow", ContainerID: "peapod://l", State: running},
			{Name: "ready", ContainerID: "peapod://r", State: running},
		},
	}
	m := NewManager(Config{Status: func(types.UID) (*corev1.PodStatus, bool) { return st, true }})
	m.workers[workerKey{"uid-1", "side", Readiness}] = &worker{triggerCh: make(chan struct{}, 1)}
	m.workers[workerKey{"uid-1", "slow", Startup}] = &worker{triggerCh: make(chan struct{}, 1)}
	m.workers[workerKey{"uid-1", "ready", Readiness}] = &worker{triggerCh: make(chan struct{}, 1)}
	m.results[Readiness]["peapod://r"] = Success
	m.UpdatePodStatus(pod, st)
	type flags struct{ started, ready bool }
	got := map[string]flags{}
	for _, cs := range append(st.InitContainerStatuses, st.ContainerStatuses...) {
		got[cs.Name] = flags{*cs.Started, cs.Ready}
	}
	want := map[string]flags{
		"init":  {false, true},  // exited 0: ready, not running
		"side":  {true, false},  // readiness probe without a result yet
		"plain": {true, true},   // no probes
		"slow":  {false, false}, // startup probe pending
		"ready": {true, true},   // readiness succeeded
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %+v, want %+v", name, got[name], w)
		}
	}
}
