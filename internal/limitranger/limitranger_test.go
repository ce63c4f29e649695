package limitranger

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/limitrange"
	"github.com/peapod/peapod/internal/registry/namespace"
	podregistry "github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/testutil"
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
	st := testutil.OpenStore(t)
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
		InitContainers: []corev1.Container{{Name: "setup", Resources: corev1.ResourceRequirements{Limits: rl("cpu", "1")}}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	// What the store does on a create: the API's defaulting (the limit
	// copied into the missing request), then the plugin.
	podregistry.DefaultRequests(pod)
	if err := l.Mutate(context.Background(), nil, "team", pod); err != nil {
		t.Fatal(err)
	}
	if setup := pod.Spec.InitContainers[0].Resources; setup.Requests.Cpu().String() != "1" || setup.Limits.Cpu().String() != "1" {
		t.Errorf("setup %+v: the request comes from the limit, not from defaultRequest", setup)
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

// TestClaims: a claim's storage request is held to the ranges'
// PersistentVolumeClaim min and max on create, and on an update that
// changes it (status updates never reach the plugin).
func TestClaims(t *testing.T) {
	l := newRanger(t, corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "storage"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "2Gi")},
		{Type: corev1.LimitTypeContainer, Min: rl("cpu", "1")},
	}}})
	claim := func(requests corev1.ResourceList) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{}},
			Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: requests}}}
	}
	res := &registry.Resource{Name: "persistentvolumeclaims"}
	for _, tc := range []struct {
		desc     string
		requests corev1.ResourceList
		want     string
	}{
		{"within", rl("storage", "1536Mi"), ""},
		{"at the bounds", rl("storage", "2Gi"), ""},
		{"under the minimum", rl("storage", "500Mi"), `persistentvolumeclaims "data" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{"over the maximum", rl("storage", "3Gi"), `persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 3Gi`},
		{"no request", nil, `persistentvolumeclaims "data" is forbidden: [minimum storage usage per PersistentVolumeClaim is 1Gi.  No request is specified, maximum storage usage per PersistentVolumeClaim is 2Gi.  No request is specified]`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := l.Validate(context.Background(), res, "team", claim(tc.requests))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if err != nil && !apierrors.IsForbidden(err) {
				t.Errorf("not a 403: %v", err)
			}
		})
	}
	// Updates: an expansion past the maximum is refused; an update that
	// keeps the requests (a label) or a status update is not checked.
	small := claim(rl("storage", "500Mi"))
	if _, err := l.ValidateUpdate(context.Background(), res, "team", claim(rl("storage", "3Gi")), claim(rl("storage", "1Gi"))); err == nil ||
		err.Error() != `persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, but request is 3Gi` {
		t.Errorf("expansion past the maximum: %v", err)
	}
	if _, err := l.ValidateUpdate(context.Background(), res, "team", claim(rl("storage", "2Gi")), claim(rl("storage", "1Gi"))); err != nil {
		t.Errorf("expansion within: %v", err)
	}
	labeled := small.DeepCopy()
	labeled.Labels["app"] = "db"
	if _, err := l.ValidateUpdate(context.Background(), res, "team", labeled, small); err != nil {
		t.Errorf("unchanged requests: %v", err)
	}
	// A pod update that keeps the resources (a label) is not checked.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	if _, err := l.ValidateUpdate(context.Background(), &registry.Resource{Name: "pods"}, "team", pod, pod); err != nil {
		t.Errorf("pod update: %v", err)
	}
}

// TestDefaultsAfterAPIDefaulting creates a pod through the pods store: a
// container limited to 1 cpu gets its request from its limit (the API's
// defaulting comes before admission), not from the range's defaultRequest,
// and stays Guaranteed; the range only fills memory.
func TestDefaultsAfterAPIDefaulting(t *testing.T) {
	ctx := context.Background()
	st := testutil.OpenStore(t)
	if _, err := registry.NewStore(namespace.Resource(), st, time.Now).Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, false); err != nil {
		t.Fatal(err)
	}
	lrs := registry.NewStore(limitrange.Resource(), st, time.Now)
	if _, err := lrs.Create(ctx, "team", &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "defaults"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Default: rl("cpu", "500m", "memory", "64Mi"), DefaultRequest: rl("cpu", "100m", "memory", "64Mi")},
	}}}, false); err != nil {
		t.Fatal(err)
	}
	pods := registry.NewStore(podregistry.Resource(&podregistry.Strategy{NodeName: "node", Now: time.Now}), st, time.Now)
	pods.UseAdmission(&LimitRanger{LimitRanges: lrs})
	out, err := pods.Create(ctx, "team", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "app", Image: "busybox", Resources: corev1.ResourceRequirements{Limits: rl("cpu", "1")}},
	}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	pod := out.(*corev1.Pod)
	app := pod.Spec.Containers[0].Resources
	if app.Requests.Cpu().String() != "1" || app.Limits.Cpu().String() != "1" || app.Requests.Memory().String() != "64Mi" || app.Limits.Memory().String() != "64Mi" {
		t.Errorf("resources %+v", app)
	}
	if pod.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("QoS class %s, want Guaranteed", pod.Status.QOSClass)
	}
	if got, want := pod.Annotations[Annotation], "LimitRanger plugin set: memory request for container app; memory limit for container app"; got != want {
		t.Errorf("annotation %q\nwant %q", got, want)
	}
}
