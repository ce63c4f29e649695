package pod

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestImageVolumeDefaultsAndValidation(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		source     corev1.ImageVolumeSource
		subPath    string
		wantPolicy corev1.PullPolicy
		want       string // "" for valid
	}{
		{"tag", corev1.ImageVolumeSource{Reference: "example.test/tools:1.0"}, "", corev1.PullIfNotPresent, ""},
		{"latest", corev1.ImageVolumeSource{Reference: "example.test/tools:latest"}, "", corev1.PullAlways, ""},
		{"untagged", corev1.ImageVolumeSource{Reference: "example.test/tools"}, "", corev1.PullAlways, ""},
		{"digest", corev1.ImageVolumeSource{Reference: "example.test/tools@sha256:" + strings.Repeat("a", 64)}, "", corev1.PullIfNotPresent, ""},
		{"explicit policy", corev1.ImageVolumeSource{Reference: "example.test/tools", PullPolicy: corev1.PullNever}, "", corev1.PullNever, ""},
		{"sub path", corev1.ImageVolumeSource{Reference: "example.test/tools:1.0"}, "bin", corev1.PullIfNotPresent, ""},
		{"no reference", corev1.ImageVolumeSource{PullPolicy: corev1.PullAlways}, "", corev1.PullAlways, "spec.volumes[0].image.reference: Required value"},
		{"bad policy", corev1.ImageVolumeSource{Reference: "busybox", PullPolicy: "Sometimes"}, "", "Sometimes",
			`spec.volumes[0].image.pullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`},
		{"escaping sub path", corev1.ImageVolumeSource{Reference: "busybox:1"}, "../etc", corev1.PullIfNotPresent, "must not contain '..'"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			src := tc.source
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: corev1.PodSpec{
					Volumes: []corev1.Volume{{Name: "tools", VolumeSource: corev1.VolumeSource{Image: &src}}},
					Containers: []corev1.Container{{Name: "app", Image: "busybox",
						VolumeMounts: []corev1.VolumeMount{{Name: "tools", MountPath: "/tools", SubPath: tc.subPath}}}}}}
			SetDefaults(p)
			if got := p.Spec.Volumes[0].Image.PullPolicy; got != tc.wantPolicy {
				t.Errorf("pullPolicy %q, want %q", got, tc.wantPolicy)
			}
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
