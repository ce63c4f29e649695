package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEphemeralContainersUpdate(t *testing.T) {
	debugger := func(name string) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "busybox", Stdin: true, TTY: true}}
	}
	stored := func() *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "7", Generation: 1},
			Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
				Containers:     []corev1.Container{{Name: "app", Image: "busybox"}},
			}}
		SetDefaults(p)
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{debugger("old")}
		SetDefaults(p)
		return p
	}
	for _, tc := range []struct {
		desc   string
		mutate func(*corev1.Pod)
		want   string // "" for valid
	}{
		{"add one targeting a container", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.TargetContainerName = "app"
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, ""},
		{"target an init container", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.TargetContainerName = "init"
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, ""},
		{"target unknown", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.TargetContainerName = "old"
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, `spec.ephemeralContainers[1].targetContainerName: Not found: "old"`},
		{"name taken by a container", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, debugger("app"))
		}, `spec.ephemeralContainers[1].name: Duplicate value: "app"`},
		{"ports", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.Ports = []corev1.ContainerPort{{ContainerPort: 80}}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, "spec.ephemeralContainers[1].ports: Forbidden: cannot be set for an Ephemeral Container"},
		{"resources and probes", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
			d.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, "spec.ephemeralContainers[1].resources: Forbidden: cannot be set for an Ephemeral Container, spec.ephemeralContainers[1].readinessProbe: Forbidden: cannot be set for an Ephemeral Container"},
		{"subPath", func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			d := debugger("dbg")
			d.VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/v", SubPath: "x"}}
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, "spec.ephemeralContainers[1].volumeMounts[0].subPath: Forbidden: cannot be set for an Ephemeral Container"},
		{"no image", func(p *corev1.Pod) {
			d := debugger("dbg")
			d.Image = ""
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, d)
		}, "spec.ephemeralContainers[1].image: Required value"},
		{"removed", func(p *corev1.Pod) { p.Spec.EphemeralContainers = nil },
			"spec.ephemeralContainers: Forbidden: existing ephemeral containers \"old\" may not be removed"},
		{"changed", func(p *corev1.Pod) { p.Spec.EphemeralContainers[0].Image = "other" },
			"spec.ephemeralContainers: Forbidden: existing ephemeral containers \"old\" may not be changed"},
		{"static pod", func(p *corev1.Pod) {}, "Forbidden: static pods do not support ephemeral containers"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			s := &Strategy{}
			old := stored()
			if tc.desc == "static pod" {
				old.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: "hash"}
			}
			p := old.DeepCopy()
			tc.mutate(p)
			// What the subresource keeps of the request: the ephemeral
			// containers only.
			p.Spec.Containers[0].Image = "ignored"
			p.Labels = map[string]string{"ignored": "yes"}
			s.PrepareForEphemeralContainersUpdate(context.Background(), p, old)
			if p.Spec.Containers[0].Image != "busybox" || p.Labels != nil {
				t.Errorf("other fields changed: %+v", p)
			}
			errs := s.ValidateEphemeralContainersUpdate(context.Background(), p, old)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
			if tc.want == "" {
				if p.Generation != 2 || p.Spec.EphemeralContainers[1].TerminationMessagePath != "/dev/termination-log" ||
					p.Spec.EphemeralContainers[1].ImagePullPolicy != corev1.PullAlways {
					t.Errorf("not defaulted: generation %d, %+v", p.Generation, p.Spec.EphemeralContainers[1])
				}
			}
		})
	}
}

func TestEphemeralContainersOnCreate(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "busybox"}}}}}
	SetDefaults(p)
	if errs := ValidatePod(p); errs.ToAggregate() == nil || errs.ToAggregate().Error() != "spec.ephemeralContainers: Forbidden: cannot be set on create" {
		t.Errorf("got %v", errs.ToAggregate())
	}
}
