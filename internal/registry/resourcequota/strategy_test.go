package resourcequota

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidate(t *testing.T) {
	hard := func(pairs ...string) corev1.ResourceList {
		out := corev1.ResourceList{}
		for i := 0; i < len(pairs); i += 2 {
			out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		desc string
		spec corev1.ResourceQuotaSpec
		want []string // "" for valid
	}{
		{"seed 003", corev1.ResourceQuotaSpec{Hard: hard("requests.cpu", "1", "requests.memory", "1Gi", "limits.cpu", "2", "limits.memory", "2Gi")}, nil},
		{"counts and extended", corev1.ResourceQuotaSpec{Hard: hard("count/pods", "5", "count/deployments.apps", "2", "requests.example.com/gpu", "1", "pods", "10")}, nil},
		{"unknown name", corev1.ResourceQuotaSpec{Hard: hard("foo", "1")}, []string{
			`spec.hard[foo]: Invalid value: "foo": must be a standard resource type or fully qualified`,
			`spec.hard[foo]: Invalid value: "foo": must be a standard resource for quota`}},
		{"storage alone", corev1.ResourceQuotaSpec{Hard: hard("storage", "1Gi")}, []string{`spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota`}},
		{"negative", corev1.ResourceQuotaSpec{Hard: hard("cpu", "-1")}, []string{`spec.hard[cpu]: Invalid value: "-1": must be greater than or equal to 0`}},
		{"fractional count", corev1.ResourceQuotaSpec{Hard: hard("pods", "1500m")}, []string{`spec.hard[pods]: Invalid value: "1500m": must be an integer`}},
		{"fractional count/", corev1.ResourceQuotaSpec{Hard: hard("count/pods", "0.5")}, []string{`spec.hard[count/pods]: Invalid value: "500m": must be an integer`}},
		{"unknown scope", corev1.ResourceQuotaSpec{Hard: hard("pods", "1"), Scopes: []corev1.ResourceQuotaScope{"Foo"}},
			[]string{`spec.scopes: Invalid value: ["Foo"]: unsupported scope`}},
		{"BestEffort limits only pods", corev1.ResourceQuotaSpec{Hard: hard("cpu", "1"), Scopes: []corev1.ResourceQuotaScope{"BestEffort"}},
			[]string{`spec.scopes: Invalid value: ["BestEffort"]: unsupported scope applied to resource`}},
		{"conflicting", corev1.ResourceQuotaSpec{Hard: hard("pods", "1"), Scopes: []corev1.ResourceQuotaScope{"Terminating", "NotTerminating"}},
			[]string{`spec.scopes: Invalid value: ["Terminating","NotTerminating"]: conflicting scopes`}},
		{"selector operator", corev1.ResourceQuotaSpec{Hard: hard("pods", "1"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: "BestEffort", Operator: corev1.ScopeSelectorOpIn, Values: []string{"x"}}}}},
			[]string{`spec.scopeSelector.matchExpressions.operator: Invalid value: "In": must be 'Exists' when scope is any of`}},
		{"selector values", corev1.ResourceQuotaSpec{Hard: hard("pods", "1"), ScopeSelector: &corev1.ScopeSelector{MatchExpressions: []corev1.ScopedResourceSelectorRequirement{
			{ScopeName: "PriorityClass", Operator: corev1.ScopeSelectorOpIn}}}},
			[]string{"spec.scopeSelector.matchExpressions.values: Required value: must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			q := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"}, Spec: tc.spec}
			errs := Strategy{}.Validate(context.Background(), q)
			if len(tc.want) == 0 {
				if len(errs) > 0 {
					t.Errorf("unexpected %v", errs.ToAggregate())
				}
				return
			}
			if len(errs) == 0 {
				t.Fatalf("accepted, want %q", tc.want)
			}
			got := errs.ToAggregate().Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("got %s\nwant %s", got, w)
				}
			}
		})
	}
}

func TestScopesImmutable(t *testing.T) {
	old := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", ResourceVersion: "1"},
		Spec: corev1.ResourceQuotaSpec{Scopes: []corev1.ResourceQuotaScope{"BestEffort"}}}
	cur := old.DeepCopy()
	cur.Spec.Scopes = []corev1.ResourceQuotaScope{"NotBestEffort"}
	errs := Strategy{}.ValidateUpdate(context.Background(), cur, old)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), `spec.scopes: Invalid value: ["NotBestEffort"]: field is immutable`) {
		t.Errorf("got %v", errs.ToAggregate())
	}
}
