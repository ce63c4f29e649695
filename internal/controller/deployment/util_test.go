package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolveFenceposts(t *testing.T) {
	pct := intstr.FromString("25%")
	for _, tc := range []struct {
		replicas, surge, unavailable int32
	}{
		// The defaults (25%/25%) as WORKLOADS.md §3.3 lists them.
		{1, 1, 0}, {3, 1, 0}, {4, 1, 1}, {10, 3, 2}, {0, 0, 1},
	} {
		s, u := resolveFenceposts(&pct, &pct, tc.replicas)
		if s != tc.surge || u != tc.unavailable {
			t.Errorf("replicas %d: surge %d unavailable %d, want %d %d", tc.replicas, s, u, tc.surge, tc.unavailable)
		}
	}
	zero := intstr.FromInt32(0)
	if s, u := resolveFenceposts(&zero, &zero, 5); s != 0 || u != 1 {
		t.Errorf("0/0: %d %d, want 0 1", s, u)
	}
}

func deploy(replicas int32, surge, unavailable intstr.IntOrString) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: &replicas, Strategy: appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}}}
}

func rs(n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Replicas: &n}}
}

func TestNewReplicaSetReplicas(t *testing.T) {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	for _, tc := range []struct {
		name     string
		d        *appsv1.Deployment
		old, new int32
		want     int32
	}{
		{"first step of 3, surge 1", deploy(3, one, zero), 3, 0, 1},
		{"at the surge limit", deploy(3, one, zero), 3, 1, 1},
		{"old scaled down", deploy(3, one, zero), 2, 1, 2},
		{"never above replicas", deploy(3, one, zero), 0, 3, 3},
		{"25% of 10: surge 3", deploy(10, intstr.FromString("25%"), intstr.FromString("25%")), 10, 0, 3},
	} {
		n := rs(tc.new)
		if got := newReplicaSetReplicas(tc.d, []*appsv1.ReplicaSet{rs(tc.old), n}, n); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
	recreate := deploy(4, one, zero)
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if got := newReplicaSetReplicas(recreate, []*appsv1.ReplicaSet{rs(4), rs(0)}, rs(0)); got != 4 {
		t.Errorf("recreate: %d, want 4", got)
	}
}

// TestProportionalScaling is WORKLOADS.md §3.5's example: 10 replicas
// (surge 3) mid-rollout with old 8 and new 5 (max-replicas 13), scaled to
// 15, become 12 and 7.
func TestProportionalScaling(t *testing.T) {
	d := deploy(15, intstr.FromString("25%"), intstr.FromString("25%"))
	r := &rollout{d: d}
	old, newRS := rs(8), rs(5)
	for _, x := range []*appsv1.ReplicaSet{old, newRS} {
		x.Annotations = map[string]string{MaxReplicasAnnotation: "13"}
	}
	toAdd := replicas(d) + maxSurge(d) - 13
	if toAdd != 6 {
		t.Fatalf("toAdd %d, want 6", toAdd)
	}
	a := r.proportion(old, toAdd, 0)
	b := r.proportion(newRS, toAdd, a)
	if a != 4 || b != 2 {
		t.Errorf("proportions %d, %d; want 4, 2", a, b)
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a := corev1.PodTemplateSpec{}
	a.Labels = map[string]string{"app": "web", HashLabel: "abc"}
	b := corev1.PodTemplateSpec{}
	b.Labels = map[string]string{"app": "web"}
	if !equalIgnoreHash(&a, &b) {
		t.Error("templates differing only in the hash label differ")
	}
	b.Labels["app"] = "other"
	if equalIgnoreHash(&a, &b) {
		t.Error("templates with different labels are equal")
	}
	if computeHash(&a, nil) == computeHash(&b, nil) {
		t.Error("different templates hash the same")
	}
	n := int32(1)
	if computeHash(&a, nil) == computeHash(&a, &n) {
		t.Error("the collision count does not change the hash")
	}
}
