package runtimeclass

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/storage"
)

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		desc string
		rc   nodev1.RuntimeClass
		want string
	}{
		{"plain", nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"}, ""},
		{"no handler", nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, `handler: Invalid value: ""`},
		{"handler not a label", nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Handler: "a.b"},
			`handler: Invalid value: "a.b": must not contain dots`},
		{"bad name", nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "X_"}, Handler: "runc"}, `metadata.name: Invalid value: "X_"`},
		{"negative overhead", nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Handler: "runc",
			Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("-1")}}},
			`overhead.podFixed[cpu]: Invalid value: "-1": must be greater than or equal to 0`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			errs := Strategy{}.Validate(context.Background(), &tc.rc)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
		})
	}
	old := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"}
	changed := old.DeepCopy()
	changed.Handler = "crun"
	if errs := (Strategy{}).ValidateUpdate(context.Background(), changed, old); !strings.Contains(errs.ToAggregate().Error(), `handler: Invalid value: "crun": field is immutable`) {
		t.Errorf("a changed handler: %v", errs.ToAggregate())
	}
}

// TestAdmission: a pod naming a missing RuntimeClass is refused; one that
// exists gives the pod its overhead and scheduling; an overhead of the
// pod's own is refused.
func TestAdmission(t *testing.T) {
	ctx := context.Background()
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), scheme.New(), storage.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	classes := registry.NewStore(Resource(), st, time.Now)
	if _, err := classes.Create(ctx, "", &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata",
		Overhead:   &nodev1.Overhead{PodFixed: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}},
		Scheduling: &nodev1.Scheduling{NodeSelector: map[string]string{"sandboxed": "yes"}}}, false); err != nil {
		t.Fatal(err)
	}
	a := &Admission{RuntimeClasses: classes}
	pods := &registry.Resource{Name: "pods"}
	pod := func(class string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
		if class != "" {
			p.Spec.RuntimeClassName = &class
		}
		return p
	}
	err = a.Mutate(ctx, pods, "default", pod("nope"))
	if !apierrors.IsForbidden(err) || err.Error() != `pods "web" is forbidden: pod rejected: RuntimeClass "nope" not found` {
		t.Errorf("a missing class: %v", err)
	}
	p := pod("kata")
	if err := a.Mutate(ctx, pods, "default", p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Overhead.Memory().String() != "64Mi" || p.Spec.NodeSelector["sandboxed"] != "yes" {
		t.Errorf("overhead %v, node selector %v", p.Spec.Overhead, p.Spec.NodeSelector)
	}
	if _, err := a.Validate(ctx, pods, "default", p); err != nil {
		t.Errorf("the class's own overhead: %v", err)
	}
	p = pod("kata")
	p.Spec.NodeSelector = map[string]string{"sandboxed": "no"}
	if err := a.Mutate(ctx, pods, "default", p); err == nil || !strings.Contains(err.Error(), "conflict: runtimeClass.scheduling.nodeSelector[sandboxed] = yes; pod.spec.nodeSelector[sandboxed] = no") {
		t.Errorf("a conflicting node selector: %v", err)
	}
	p = pod("")
	p.Spec.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	if _, err := a.Validate(ctx, pods, "default", p); err == nil || !strings.Contains(err.Error(), "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead") {
		t.Errorf("an overhead without a class: %v", err)
	}
}
