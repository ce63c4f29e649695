package limitranger

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/limitrange"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/storage"
)

func rl(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func newRanger(t *testing.T, ranges ...corev1.LimitRange) *LimitRanger {
	ctx := context.Background()
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), scheme.New(), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := registry.NewStore(namespace.Resource(), st, time.Now).Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, false); err != nil {
		t.Fatal(err)
	}
	lrs := registry.NewStore(limitrange.Resource(), st, time.Now)
	for i := range ranges {
		if _, err := lrs.Create(ctx, "team", &ranges[i], false); err != nil {
			t.Fatal(err)
		}
	}
	return &LimitRanger{LimitRanges: lrs}
}

func TestDefaults(t *testing.T) {
	l := newRanger(t, corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "defaults"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Default: rl("cpu", "500m", "memory", "128Mi"), DefaultRequest: rl("cpu", "200m")},
	}}})
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		// As the API defaults it: the request copied from the limit.
		InitContainers: []corev1.Container{{Name: "setup", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", "1")}}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	if err := l.Mutate(context.Background(), nil, "team", pod); err != nil {
		t.Fatal(err)
	}
	app := pod.Spec.Containers[0].Resources
	// The registry defaulted defaultRequest's memory from default.
	if app.Requests.Cpu().String() != "200m" || app.Requests.Memory().String() != "128Mi" || app.Limits.Cpu().String() != "500m" || app.Limits.Memory().String() != "128Mi" {
		t.Errorf("app %+v", app)
	}
	want := "LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app; memory request for init container setup; memory limit for init container setup"
	if got := pod.Annotations[Annotation]; got != want {
		t.Errorf("annotation %q\nwant %q", got, want)
	}
}

func TestConstraints(t *testing.T) {
	l := newRanger(t, corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "bounds"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m"), Max: rl("memory", "1Gi"), MaxLimitRequestRatio: rl("cpu", "2")},
		{Type: corev1.LimitTypePod, Max: rl("cpu", "3")},
	}}})
	for _, tc := range []struct {
		desc       string
		containers []corev1.Container
		want       string
	}{
		{"within", []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "500m"), Limits: rl("cpu", "1", "memory", "512Mi")}}}, ""},
		{"under the minimum, over the maximum", []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "50m"), Limits: rl("cpu", "100m", "memory", "2Gi")}}},
			`pods "web" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, maximum memory usage per Container is 1Gi, but limit is 2Gi]`},
		{"ratio", []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "250m"), Limits: rl("cpu", "1", "memory", "1Gi")}}},
			`pods "web" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`},
		{"pod total", []corev1.Container{
			{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", "2", "memory", "1Gi")}},
			{Name: "b", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", "2", "memory", "1Gi")}},
		}, `pods "web" is forbidden: maximum cpu usage per Pod is 3, but limit is 4`},
		{"no limit", []corev1.Container{{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "100m"), Limits: rl("cpu", "100m")}}},
			`pods "web" is forbidden: maximum memory usage per Container is 1Gi.  No limit is specified`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: tc.containers}}
			_, err := l.Validate(context.Background(), &registry.Resource{Name: "pods"}, "team", pod)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

// TestResize: a resized pod is held to the ranges as a new one is.
func TestResize(t *testing.T) {
	l := newRanger(t, corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "bounds"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Max: rl("cpu", "2")},
	}}})
	pod := func(limit string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "a", Resources: corev1.ResourceRequirements{Requests: rl("cpu", "1"), Limits: rl("cpu", limit)}}}}}
	}
	res := &registry.Resource{Name: "pods"}
	if _, err := l.ValidateUpdate(context.Background(), res, "team", pod("2"), pod("1")); err != nil {
		t.Errorf("a resize within the range: %v", err)
	}
	_, err := l.ValidateUpdate(context.Background(), res, "team", pod("4"), pod("1"))
	if want := `pods "web" is forbidden: maximum cpu usage per Container is 2, but limit is 4`; err == nil || err.Error() != want {
		t.Errorf("a resize over the range: %v, want %s", err, want)
	}
}
