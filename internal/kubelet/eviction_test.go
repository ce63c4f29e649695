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
