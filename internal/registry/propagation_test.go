package registry

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPropagationFinalizer(t *testing.T) {
	orphan, fg, bg := metav1.DeletePropagationOrphan, metav1.DeletePropagationForeground, metav1.DeletePropagationBackground
	yes, no := true, false
	for _, tc := range []struct {
		name       string
		def        metav1.DeletionPropagation
		opts       metav1.DeleteOptions
		finalizers []string
		want       string
	}{
		{"default background", "", metav1.DeleteOptions{}, nil, ""},
		{"default orphan (jobs)", metav1.DeletePropagationOrphan, metav1.DeleteOptions{}, nil, metav1.FinalizerOrphanDependents},
		{"orphan", "", metav1.DeleteOptions{PropagationPolicy: &orphan}, nil, metav1.FinalizerOrphanDependents},
		{"foreground", "", metav1.DeleteOptions{PropagationPolicy: &fg}, nil, metav1.FinalizerDeleteDependents},
		{"background over the kind's orphan", metav1.DeletePropagationOrphan, metav1.DeleteOptions{PropagationPolicy: &bg}, nil, ""},
		{"legacy orphanDependents true", "", metav1.DeleteOptions{OrphanDependents: &yes}, nil, metav1.FinalizerOrphanDependents},
		{"legacy orphanDependents false", metav1.DeletePropagationOrphan, metav1.DeleteOptions{OrphanDependents: &no}, nil, ""},
		{"a finalizer already decides", metav1.DeletePropagationOrphan, metav1.DeleteOptions{}, []string{metav1.FinalizerDeleteDependents}, ""},
	} {
		m := &metav1.ObjectMeta{Finalizers: tc.finalizers}
		if got := propagationFinalizer(&Resource{DefaultPropagation: tc.def}, &tc.opts, m); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
