package kubelet

import (
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/prober"
)

// results are probe results by "<kind>/<container name>".
type results map[string]prober.Result

func (r results) Result(kind prober.Kind, id string) (prober.Result, bool) {
	res, ok := r[kind.String()+"/"+id]
	return res, ok
}

// rpOf builds a runtime pod with one ready sandbox and, per container
// name, its newest instance: "running", "created", or "exited:<code>".
// Container IDs are "peapod://<name>" so probe results can name them.
func rpOf(pod *corev1.Pod, states map[string]string) *runtimePod {
	rp := &runtimePod{runtimeName: "peapod", sandboxOf: map[string]string{},
		sandboxes: []*runtimeapi.PodSandboxStatus{{Id: "sb", State: runtimeapi.PodSandboxState_SANDBOX_READY,
			Network: &runtimeapi.PodSandboxNetworkStatus{Ip: "10.0.0.2"}}}}
	for name, st := range states {
		c := &runtimeapi.ContainerStatus{Id: name, Labels: map[string]string{labelContainerName: name}}
		if spec, _, _ := specOf(pod, name); spec != nil {
			c.Annotations = map[string]string{annotationHash: containerHash(spec)}
		}
		switch {
		case st == "running":
			c.State = runtimeapi.ContainerState_CONTAINER_RUNNING
		case st == "created":
			c.State = runtimeapi.ContainerState_CONTAINER_CREATED
		default:
			c.State = runtimeapi.ContainerState_CONTAINER_EXITED
			fmt.Sscanf(st, "exited:%d", &c.ExitCode)
		}
		rp.containers = append(rp.containers, c)
		rp.sandboxOf[c.Id] = "sb"
	}
	return rp
}

func TestComputePodActions(t *testing.T) {
	withStartup := sidecar("side")
	withStartup.StartupProbe = &corev1.Probe{}
	withLiveness := sidecar("side")
	withLiveness.LivenessProbe = &corev1.Probe{}
	type want struct {
		killPod, createSandbox bool
		initToStart, toStart   []int
		kills                  []string // "<id>: <message>"
		ephemeralToStart       []int
	}
	for _, tc := range []struct {
		desc   string
		policy corev1.RestartPolicy
		inits  []corev1.Container
		ctrs   []string
		states map[string]string
		probes results
		mutate func(*corev1.Pod, *runtimePod)
		want   want
	}{
		{desc: "new pod", ctrs: []string{"a", "b"}, mutate: func(_ *corev1.Pod, rp *runtimePod) { rp.sandboxes = nil },
			want: want{createSandbox: true, toStart: []int{0, 1}}},
		{desc: "ephemeral containers start once, not with a new sandbox", ctrs: []string{"a"},
			states: map[string]string{"a": "running", "e2": "exited:1"},
			mutate: func(p *corev1.Pod, _ *runtimePod) {
				for _, n := range []string{"e1", "e2", "e3"} {
					p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers,
						corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: n, Image: "busybox"}})
				}
			},
			want: want{ephemeralToStart: []int{0, 2}}},
		{desc: "ephemeral containers start during initialization", inits: []corev1.Container{ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "running"},
			mutate: func(p *corev1.Pod, _ *runtimePod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "busybox"}}}
			},
			want: want{ephemeralToStart: []int{0}}},
		{desc: "no ephemeral container in a new sandbox", ctrs: []string{"a"},
			mutate: func(p *corev1.Pod, rp *runtimePod) {
				rp.sandboxes = nil
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "busybox"}}}
			},
			want: want{createSandbox: true, toStart: []int{0}}},
		{desc: "new pod with init containers", inits: []corev1.Container{ctr("i1"), ctr("i2")}, ctrs: []string{"a"},
			mutate: func(_ *corev1.Pod, rp *runtimePod) { rp.sandboxes = nil },
			want:   want{createSandbox: true, initToStart: []int{0}}},
		{desc: "sandbox died: everything again, init containers first", inits: []corev1.Container{ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "exited:0", "a": "running"},
			mutate: func(_ *corev1.Pod, rp *runtimePod) {
				rp.sandboxes[0].State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
			},
			want: want{killPod: true, createSandbox: true, initToStart: []int{0}}},
		{desc: "sandbox died under Never after running: only killed", policy: corev1.RestartPolicyNever, ctrs: []string{"a"},
			states: map[string]string{"a": "exited:0"},
			mutate: func(_ *corev1.Pod, rp *runtimePod) {
				rp.sandboxes[0].State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
			},
			want: want{killPod: true}},
		{desc: "sandbox died under OnFailure: only the failed restart", policy: corev1.RestartPolicyOnFailure, ctrs: []string{"a", "b"},
			states: map[string]string{"a": "exited:0", "b": "exited:1"},
			mutate: func(_ *corev1.Pod, rp *runtimePod) {
				rp.sandboxes[0].State = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
			},
			want: want{killPod: true, createSandbox: true, toStart: []int{1}}},
		{desc: "first init running: wait", inits: []corev1.Container{ctr("i1"), ctr("i2")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "running"}, want: want{}},
		{desc: "first init done: the second", inits: []corev1.Container{ctr("i1"), ctr("i2")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "exited:0"}, want: want{initToStart: []int{1}}},
		{desc: "init failed: again", inits: []corev1.Container{ctr("i1"), ctr("i2")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "exited:0", "i2": "exited:2"}, want: want{initToStart: []int{1}}},
		{desc: "init failed under Never: the pod is killed", policy: corev1.RestartPolicyNever, inits: []corev1.Container{ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"i1": "exited:2"}, want: want{killPod: true}},
		{desc: "inits done: the containers", inits: []corev1.Container{ctr("i1"), ctr("i2")}, ctrs: []string{"a", "b"},
			states: map[string]string{"i1": "exited:0", "i2": "exited:0"}, want: want{toStart: []int{0, 1}}},
		{desc: "sidecar started: the next init container", inits: []corev1.Container{sidecar("side"), ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"side": "running"}, want: want{initToStart: []int{1}}},
		{desc: "sidecar not through its startup probe: wait", inits: []corev1.Container{withStartup, ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"side": "running"}, probes: results{"Startup/peapod://side": prober.Unknown}, want: want{}},
		{desc: "sidecar failed its startup probe", inits: []corev1.Container{withStartup, ctr("i1")}, ctrs: []string{"a"},
			states: map[string]string{"side": "running"}, probes: results{"Startup/peapod://side": prober.Failure},
			want: want{initToStart: []int{0}, kills: []string{"side: Init container side failed startup probe"}}},
		{desc: "sidecar failed liveness after init", inits: []corev1.Container{withLiveness}, ctrs: []string{"a"},
			states: map[string]string{"side": "running", "a": "running"}, probes: results{"Liveness/peapod://side": prober.Failure},
			want: want{initToStart: []int{0}, kills: []string{"side: Init container side failed liveness probe"}}},
		{desc: "sidecar exited after init: restarted, containers kept", policy: corev1.RestartPolicyNever, inits: []corev1.Container{sidecar("side")}, ctrs: []string{"a"},
			states: map[string]string{"side": "exited:0", "a": "running"}, want: want{initToStart: []int{0}}},
		{desc: "liveness failure: killed and restarted", ctrs: []string{"a"},
			states: map[string]string{"a": "running"}, probes: results{"Liveness/peapod://a": prober.Failure},
			want: want{toStart: []int{0}, kills: []string{"a: Container a failed liveness probe, will be restarted"}}},
		{desc: "startup failure", policy: corev1.RestartPolicyOnFailure, ctrs: []string{"a"},
			states: map[string]string{"a": "running"}, probes: results{"Startup/peapod://a": prober.Failure},
			want: want{toStart: []int{0}, kills: []string{"a: Container a failed startup probe, will be restarted"}}},
		{desc: "liveness failure under Never, another container runs", policy: corev1.RestartPolicyNever, ctrs: []string{"a", "b"},
			states: map[string]string{"a": "running", "b": "running"}, probes: results{"Liveness/peapod://a": prober.Failure},
			want: want{kills: []string{"a: Container a failed liveness probe"}}},
		{desc: "liveness failure under Never, alone: the pod is killed", policy: corev1.RestartPolicyNever, ctrs: []string{"a"},
			states: map[string]string{"a": "running"}, probes: results{"Liveness/peapod://a": prober.Failure},
			want: want{killPod: true, kills: []string{"a: Container a failed liveness probe"}}},
		{desc: "new image: restarted", ctrs: []string{"a"}, states: map[string]string{"a": "running"},
			mutate: func(p *corev1.Pod, _ *runtimePod) { p.Spec.Containers[0].Image = "busybox:2" },
			want:   want{toStart: []int{0}, kills: []string{"a: Container a definition changed, will be restarted"}}},
		{desc: "OnFailure: the failed one restarts", policy: corev1.RestartPolicyOnFailure, ctrs: []string{"a", "b"},
			states: map[string]string{"a": "exited:0", "b": "exited:1"}, want: want{toStart: []int{1}}},
		{desc: "all done: the sidecars go too", policy: corev1.RestartPolicyOnFailure, inits: []corev1.Container{sidecar("side")}, ctrs: []string{"a"},
			states: map[string]string{"side": "running", "a": "exited:0"}, want: want{killPod: true}},
		{desc: "Always: exited containers start again", ctrs: []string{"a"}, states: map[string]string{"a": "exited:0"}, want: want{toStart: []int{0}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			policy := tc.policy
			if policy == "" {
				policy = corev1.RestartPolicyAlways
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy, InitContainers: tc.inits}}
			for _, n := range tc.ctrs {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n, Image: "busybox"})
			}
			rp := rpOf(pod, tc.states)
			if tc.mutate != nil {
				tc.mutate(pod, rp)
			}
			probes := tc.probes
			if probes == nil {
				probes = results{}
			}
			a := computePodActions(pod, rp, probes)
			var kills []string
			for _, k := range a.toKill {
				kills = append(kills, k.id+": "+k.message)
			}
			got := want{killPod: a.killPod, createSandbox: a.createSandbox, initToStart: a.initToStart, toStart: a.toStart, kills: kills,
				ephemeralToStart: a.ephemeralToStart}
			if got.killPod != tc.want.killPod || got.createSandbox != tc.want.createSandbox || !slices.Equal(got.initToStart, tc.want.initToStart) ||
				!slices.Equal(got.toStart, tc.want.toStart) || !slices.Equal(got.kills, tc.want.kills) ||
				!slices.Equal(got.ephemeralToStart, tc.want.ephemeralToStart) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
