package kubelet

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestParseEvictionHard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // threshold on a 1000 MiB node
		wantErr bool
	}{
		{in: "memory.available<100Mi", want: "100Mi"},
		{in: "memory.available<10%", want: "100Mi"},
		{in: "", want: "0"},
		{in: "nodefs.available<10%", wantErr: true},
		{in: "memory.available>1Gi", wantErr: true},
		{in: "memory.available<lots", wantErr: true},
		{in: "memory.available<120%", wantErr: true},
	} {
		th, err := ParseEvictionHard(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil {
			if got := th.Memory(1000 << 20); got.Cmp(resource.MustParse(tc.want)) != 0 {
				t.Errorf("%q: threshold %s, want %s", tc.in, got.String(), tc.want)
			}
		}
	}
}

func TestEvictionMessage(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "hungry", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("10Mi")}}},
		{Name: "modest", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}}},
	}}}
	usages := map[*corev1.Pod]podUsage{p: {containers: map[string]uint64{"hungry": 20 << 20, "modest": 1 << 20}}}
	got := evictionMessage(p, usages, resource.MustParse("100Mi"), resource.MustParse("50Mi"))
	want := "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. " +
		"Container hungry was using 20Mi, request is 10Mi, has larger consumption of memory. "
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

// TestMemoryRequest: the eviction manager's request of a pod is the
// regular containers' sum or the largest init container's, whichever is
// more; sidecars add to the regular containers; overhead does not count.
func TestMemoryRequest(t *testing.T) {
	mem := func(name, q string) corev1.Container {
		c := corev1.Container{Name: name}
		if q != "" {
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}
		}
		return c
	}
	always := corev1.ContainerRestartPolicyAlways
	sidecar := mem("side", "32Mi")
	sidecar.RestartPolicy = &always
	for _, tc := range []struct {
		desc      string
		init, ctr []corev1.Container
		overhead  string
		want      string
	}{
		{"containers summed", nil, []corev1.Container{mem("a", "64Mi"), mem("b", "32Mi")}, "", "96Mi"},
		{"a larger init container", []corev1.Container{mem("i", "256Mi")}, []corev1.Container{mem("a", "64Mi"), mem("b", "32Mi")}, "", "256Mi"},
		{"a smaller init container", []corev1.Container{mem("i", "16Mi")}, []corev1.Container{mem("a", "64Mi")}, "", "64Mi"},
		{"sidecars add up", []corev1.Container{sidecar}, []corev1.Container{mem("a", "64Mi")}, "", "96Mi"},
		{"no overhead", nil, []corev1.Container{mem("a", "64Mi")}, "10Mi", "64Mi"},
		{"nothing", nil, []corev1.Container{mem("a", "")}, "", "0"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: tc.init, Containers: tc.ctr}}
			if tc.overhead != "" {
				p.Spec.Overhead = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(tc.overhead)}
			}
			want := resource.MustParse(tc.want)
			if got := memoryRequest(p); got != want.Value() {
				t.Errorf("got %d, want %d", got, want.Value())
			}
		})
	}
}
