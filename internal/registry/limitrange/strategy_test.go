package limitrange

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func rl(pairs ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(pairs); i += 2 {
		out[corev1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return out
}

func TestDefaultsAndValidation(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
		{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1", "memory", "1Gi"), Min: rl("cpu", "100m"), Default: rl("memory", "512Mi")},
	}}}
	Strategy{}.PrepareForCreate(context.Background(), lr)
	item := lr.Spec.Limits[0]
	if lr.Name == "" || item.Default.Cpu().String() != "1" || item.Default.Memory().String() != "512Mi" ||
		item.DefaultRequest.Cpu().String() != "1" || item.DefaultRequest.Memory().String() != "512Mi" {
		t.Errorf("defaults: name %q, default %v, defaultRequest %v", lr.Name, item.Default, item.DefaultRequest)
	}
	if errs := (Strategy{}).Validate(context.Background(), lr); len(errs) > 0 {
		t.Errorf("valid: %v", errs.ToAggregate())
	}
	for _, tc := range []struct {
		desc string
		item corev1.LimitRangeItem
		want string
	}{
		{"min over max", corev1.LimitRangeItem{Type: "Container", Min: rl("cpu", "2"), Max: rl("cpu", "1")},
			`spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1`},
		{"default over max", corev1.LimitRangeItem{Type: "Container", Max: rl("cpu", "1"), Default: rl("cpu", "2")},
			`spec.limits[0].default[cpu]: Invalid value: "1": default value 2 is greater than max value 1`},
		{"ratio", corev1.LimitRangeItem{Type: "Container", MaxLimitRequestRatio: rl("cpu", "500m")},
			`spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1`},
		{"pod defaults", corev1.LimitRangeItem{Type: "Pod", Default: rl("cpu", "1")},
			"spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"},
		{"type", corev1.LimitRangeItem{Type: "Volume"}, `spec.limits[0].type: Invalid value: "Volume": must be a standard limit type or fully qualified`},
		{"resource", corev1.LimitRangeItem{Type: "Container", Max: rl("pods", "1")}, `spec.limits[0].max[pods]: Invalid value: "pods": must be a standard resource for containers`},
		{"claims", corev1.LimitRangeItem{Type: "PersistentVolumeClaim"},
			"spec.limits[0].limits: Required value: either minimum or maximum storage value is required, but neither was provided"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "lr", Namespace: "ns"}, Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{tc.item}}}
			errs := Strategy{}.Validate(context.Background(), lr)
			if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Errorf("got %v\nwant %s", errs.ToAggregate(), tc.want)
			}
		})
	}
}
