package priorityclass

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/testutil"
)

func class(name string, value int32) *schedulingv1.PriorityClass {
	return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value}
}

func TestValidation(t *testing.T) {
	never, bogus := corev1.PreemptNever, corev1.PreemptionPolicy("Sometimes")
	for _, tc := range []struct {
		desc string
		pc   *schedulingv1.PriorityClass
		want string
	}{
		{"user class", class("high", 1000), ""},
		{"highest user value", class("top", HighestUserDefinablePriority), ""},
		{"above the user range", class("top", HighestUserDefinablePriority+1), "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"},
		{"system class as it is", SystemClasses()[0], ""},
		{"system class with another value", class(SystemNodeCritical, 5),
			"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: value of system-node-critical PriorityClass must be 2000001000"},
		{"unknown system name", class("system-mine", 5),
			"metadata.name: Forbidden: priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"},
		{"Never", &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "polite"}, PreemptionPolicy: &never}, ""},
		{"unknown policy", &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "odd"}, PreemptionPolicy: &bogus},
			`preemptionPolicy: Unsupported value: "Sometimes": supported values: "PreemptLowerPriority", "Never"`},
		{"bad name", class("Bad_", 1), `metadata.name: Invalid value: "Bad_"`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			errs := Strategy{}.Validate(context.Background(), tc.pc)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
		})
	}
	old := class("high", 1000)
	Strategy{}.PrepareForCreate(context.Background(), old)
	if old.PreemptionPolicy == nil || *old.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("defaulted preemption policy %v", old.PreemptionPolicy)
	}
	changed := old.DeepCopy()
	changed.Value = 2000
	if errs := (Strategy{}).ValidateUpdate(context.Background(), changed, old); !strings.Contains(errs.ToAggregate().Error(), "value: Forbidden: may not be changed in an update.") {
		t.Errorf("a changed value: %v", errs.ToAggregate())
	}
}

func newStore(t *testing.T) (*registry.Store, *Admission) {
	t.Helper()
	st := testutil.OpenStore(t)
	classes := registry.NewStore(Resource(), st, time.Now)
	a := &Admission{PriorityClasses: classes}
	classes.UseAdmission(a)
	for _, pc := range SystemClasses() {
		if _, err := classes.Create(context.Background(), "", pc, false); err != nil {
			t.Fatal(err)
		}
	}
	return classes, a
}

// TestAdmission: a pod gets its class's priority and preemption policy,
// 0 and PreemptLowerPriority without one (or the global default's); an
// unknown class, or a priority or policy of the pod's own that differs,
// is refused with upstream's messages.
func TestAdmission(t *testing.T) {
	ctx := context.Background()
	classes, a := newStore(t)
	never := corev1.PreemptNever
	polite := class("polite", 100)
	polite.PreemptionPolicy = &never
	if _, err := classes.Create(ctx, "", polite, false); err != nil {
		t.Fatal(err)
	}
	pods := &registry.Resource{Name: "pods"}
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		desc       string
		class      string
		priority   *int32
		policy     *corev1.PreemptionPolicy
		want       int32
		wantPolicy corev1.PreemptionPolicy
		err        string
	}{
		{desc: "no class", want: 0, wantPolicy: corev1.PreemptLowerPriority},
		{desc: "node critical", class: SystemNodeCritical, want: 2000001000, wantPolicy: corev1.PreemptLowerPriority},
		{desc: "cluster critical", class: SystemClusterCritical, want: 2000000000, wantPolicy: corev1.PreemptLowerPriority},
		{desc: "user class", class: "polite", want: 100, wantPolicy: corev1.PreemptNever},
		{desc: "the same priority given", class: SystemNodeCritical, priority: i32(2000001000), want: 2000001000, wantPolicy: corev1.PreemptLowerPriority},
		{desc: "unknown class", class: "nope", err: `pods "web" is forbidden: no PriorityClass with name nope was found`},
		{desc: "another priority", class: SystemClusterCritical, priority: i32(7),
			err: `pods "web" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 2000000000 from the given PriorityClass name`},
		{desc: "a priority without a class", priority: i32(7),
			err: `pods "web" is forbidden: the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name`},
		{desc: "another policy", class: "polite", policy: func() *corev1.PreemptionPolicy { p := corev1.PreemptLowerPriority; return &p }(),
			err: `pods "web" is forbidden: the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name`},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.PodSpec{PriorityClassName: tc.class, Priority: tc.priority, PreemptionPolicy: tc.policy}}
			err := a.Mutate(ctx, pods, "default", p)
			if tc.err != "" {
				if !apierrors.IsForbidden(err) || err.Error() != tc.err {
					t.Errorf("got %v, want Forbidden %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.Priority == nil || *p.Spec.Priority != tc.want || p.Spec.PreemptionPolicy == nil || *p.Spec.PreemptionPolicy != tc.wantPolicy {
				t.Errorf("priority %v policy %v, want %d %s", p.Spec.Priority, p.Spec.PreemptionPolicy, tc.want, tc.wantPolicy)
			}
		})
	}

	// A global default gives class-less pods its name and value, and
	// there is only one.
	def := class("normal", 10)
	def.GlobalDefault = true
	if _, err := classes.Create(ctx, "", def, false); err != nil {
		t.Fatal(err)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
	if err := a.Mutate(ctx, pods, "default", p); err != nil || p.Spec.PriorityClassName != "normal" || *p.Spec.Priority != 10 {
		t.Errorf("with a global default: %v %q %v", err, p.Spec.PriorityClassName, p.Spec.Priority)
	}
	second := class("other", 20)
	second.GlobalDefault = true
	if _, err := classes.Create(ctx, "", second, false); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "PriorityClass normal is already marked as default. Only one default can exist") {
		t.Errorf("a second default: %v", err)
	}

	// The system classes cannot be deleted; user classes can.
	if _, _, err := classes.Delete(ctx, "", SystemNodeCritical, nil, false); !apierrors.IsForbidden(err) ||
		err.Error() != `priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted` {
		t.Errorf("deleting a system class: %v", err)
	}
	if _, _, err := classes.Delete(ctx, "", "polite", nil, false); err != nil {
		t.Errorf("deleting a user class: %v", err)
	}
}
