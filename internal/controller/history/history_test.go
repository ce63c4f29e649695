package history

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestPatchDataRoundTrip(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox", Env: []corev1.EnvVar{{Name: "V", Value: "2"}}}}}}
	data, err := PatchData(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(data), `{"spec":{"template":{"$patch":"replace",`) {
		t.Errorf("data %s", data)
	}
	back, err := Template(&appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: data}})
	if err != nil {
		t.Fatal(err)
	}
	if back.Labels["app"] != "web" || back.Spec.Containers[0].Env[0].Value != "2" {
		t.Errorf("template back: %+v", back)
	}
	other := tmpl.DeepCopy()
	other.Spec.Containers[0].Env[0].Value = "3"
	if d2, _ := PatchData(other); string(d2) == string(data) {
		t.Error("different templates give the same data")
	}
}
