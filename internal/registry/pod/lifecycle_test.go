package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidateProbesAndLifecycle(t *testing.T) {
	always, never := corev1.ContainerRestartPolicyAlways, corev1.ContainerRestartPolicy("Never")
	grace, zero, five := int64(10), int64(0), int64(5)
	sig, bad := corev1.Signal("SIGUSR1"), corev1.Signal("SIGFOO")
	httpProbe := func(port intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: port}}}
	}
	for _, tc := range []struct {
		desc   string
		mutate func(*corev1.Pod)
		want   string // "" for valid
	}{
		{"valid probes and hooks", func(p *corev1.Pod) {
			c := &p.Spec.Containers[0]
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, TerminationGracePeriodSeconds: &five}
			c.ReadinessProbe = httpProbe(intstr.FromString("http"))
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}},
				PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 10}}}
		}, ""},
		{"no handler", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe = &corev1.Probe{} },
			"spec.containers[0].livenessProbe: Required value: must specify a handler type"},
		{"two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"a"}},
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}}
		}, "spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type"},
		{"empty command", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}}
		}, "spec.containers[0].livenessProbe.exec.command: Required value"},
		{"bad port", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = httpProbe(intstr.FromInt32(0)) },
			"spec.containers[0].readinessProbe.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"},
		{"bad port name", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe = httpProbe(intstr.FromString("Not_A_Port")) },
			`spec.containers[0].readinessProbe.httpGet.port: Invalid value: "Not_A_Port"`},
		{"scheme", func(p *corev1.Pod) {
			pr := httpProbe(intstr.FromInt32(80))
			pr.HTTPGet.Scheme = "FTP"
			p.Spec.Containers[0].ReadinessProbe = pr
		}, `spec.containers[0].readinessProbe.httpGet.scheme: Unsupported value: "FTP": supported values: "HTTP", "HTTPS"`},
		{"negative period", func(p *corev1.Pod) {
			pr := httpProbe(intstr.FromInt32(80))
			pr.PeriodSeconds = -1
			p.Spec.Containers[0].ReadinessProbe = pr
		}, "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0"},
		{"readiness grace", func(p *corev1.Pod) {
			pr := httpProbe(intstr.FromInt32(80))
			pr.TerminationGracePeriodSeconds = &five
			p.Spec.Containers[0].ReadinessProbe = pr
		}, "spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"},
		{"liveness grace zero", func(p *corev1.Pod) {
			pr := httpProbe(intstr.FromInt32(80))
			pr.TerminationGracePeriodSeconds = &zero
			p.Spec.Containers[0].LivenessProbe = pr
		}, "spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"},
		{"startup success threshold", func(p *corev1.Pod) {
			pr := httpProbe(intstr.FromInt32(80))
			pr.SuccessThreshold = 2
			p.Spec.Containers[0].StartupProbe = pr
		}, "spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1"},
		{"probe on an init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ReadinessProbe: httpProbe(intstr.FromInt32(80))}}
		}, "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers without restartPolicy=Always"},
		{"probe on a sidecar", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: &always, ReadinessProbe: httpProbe(intstr.FromInt32(80))}}
		}, ""},
		{"hook on an init container", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox",
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}}}
		}, "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always"},
		{"hook without handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{}}
		}, "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type"},
		{"sleep past the grace period", func(p *corev1.Pod) {
			p.Spec.TerminationGracePeriodSeconds = &grace
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 11}}}
		}, "spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 11: must be non-negative and less than terminationGracePeriodSeconds (10)"},
		{"stop signal without os", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: &sig}
		}, "spec.containers[0].lifecycle.stopSignal: Forbidden: may not be set for containers with empty `spec.os.name`"},
		{"stop signal on linux", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: &sig}
		}, ""},
		{"unknown stop signal", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{StopSignal: &bad}
		}, `spec.containers[0].lifecycle.stopSignal: Unsupported value: "SIGFOO": supported values: "SIGABRT", `},
		{"init restartPolicy Never", func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", RestartPolicy: &never}}
		}, `spec.initContainers[0].restartPolicy: Unsupported value: "Never": supported values: "Always"`},
		{"restartPolicy on a regular container", func(p *corev1.Pod) { p.Spec.Containers[0].RestartPolicy = &always },
			"spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"},
		{"user namespaces", func(p *corev1.Pod) { f := false; p.Spec.HostUsers = &f },
			"spec.hostUsers: Forbidden: user namespaces (hostUsers: false) are not supported by peapod yet"},
		{"recursive read-only, read-only", func(p *corev1.Pod) { withRRO(p, corev1.RecursiveReadOnlyEnabled, true) }, ""},
		{"recursive read-only, writable", func(p *corev1.Pod) { withRRO(p, corev1.RecursiveReadOnlyIfPossible, false) },
			"spec.containers[0].volumeMounts[0].recursiveReadOnly: Forbidden: may only be specified when readOnly is true"},
		{"recursive read-only, propagating", func(p *corev1.Pod) {
			withRRO(p, corev1.RecursiveReadOnlyEnabled, true)
			hc := corev1.MountPropagationHostToContainer
			p.Spec.Containers[0].VolumeMounts[0].MountPropagation = &hc
		}, "spec.containers[0].volumeMounts[0].recursiveReadOnly: Forbidden: may only be specified when mountPropagation is None or not specified"},
		{"recursive read-only, unknown", func(p *corev1.Pod) { withRRO(p, "Sometimes", true) },
			`spec.containers[0].volumeMounts[0].recursiveReadOnly: Unsupported value: "Sometimes"`},
		{"pod-level resources", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
		}, "spec.resources: Forbidden: pod-level resources are not supported by peapod yet; set resources on the containers"},
		{"runtime class", func(p *corev1.Pod) { rc := "crun"; p.Spec.RuntimeClassName = &rc }, ""},
		{"runtime class, bad name", func(p *corev1.Pod) { rc := "Crun_1"; p.Spec.RuntimeClassName = &rc },
			`spec.runtimeClassName: Invalid value: "Crun_1": a lowercase RFC 1123 subdomain`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}}}}}
			tc.mutate(p)
			SetDefaults(p)
			errs := ValidatePod(p)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
		})
	}
}

// withRRO gives the pod's first container a hostPath mount with the
// recursive read-only mode.
func withRRO(p *corev1.Pod, mode corev1.RecursiveReadOnlyMode, readOnly bool) {
	p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/srv"}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host", MountPath: "/srv", ReadOnly: readOnly, RecursiveReadOnly: &mode}}
}
