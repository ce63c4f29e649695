package namespace

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/testutil"
)

func newStore(t *testing.T) *registry.Store {
	t.Helper()
	st := testutil.OpenStore(t)
	return registry.NewStore(Resource(), st, time.Now)
}

// TestFinalizerNames: spec.finalizers holds standard names or qualified
// ones, on create and through the finalize subresource, refused (422) with
// upstream's message otherwise.
func TestFinalizerNames(t *testing.T) {
	ctx := context.Background()
	namespaces := newStore(t)
	const msg = "name is neither a standard finalizer name nor is it fully qualified"
	for _, tc := range []struct {
		finalizers []corev1.FinalizerName
		want       string // "" accepted, else the 422's message
	}{
		{[]corev1.FinalizerName{"kubernetes"}, ""},
		{[]corev1.FinalizerName{"example.com/cleanup", "orphan", "foregroundDeletion"}, ""},
		{[]corev1.FinalizerName{"kubernetes", "cleanup"}, `Namespace "ns" is invalid: spec.finalizers[1]: Invalid value: "cleanup": ` + msg},
		{[]corev1.FinalizerName{"a b/c"}, `spec.finalizers[0]: Invalid value: "a b/c"`},
	} {
		_, err := namespaces.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}, Spec: corev1.NamespaceSpec{Finalizers: tc.finalizers}}, true)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.finalizers, err)
		case tc.want != "" && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %s", tc.finalizers, err, tc.want)
		}
	}
	if _, err := namespaces.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, false); err != nil {
		t.Fatal(err)
	}
	finalize := func(finalizers ...corev1.FinalizerName) error {
		_, err := namespaces.Update(ctx, "", "ns", func(cur runtime.Object) (runtime.Object, error) {
			ns := cur.(*corev1.Namespace).DeepCopy()
			ns.Spec.Finalizers = finalizers
			return ns, nil
		}, registry.UpdateOptions{Finalize: true})
		return err
	}
	err := finalize("kubernetes", "cleanup")
	if want := `Namespace "ns" is invalid: spec.finalizers[1]: Invalid value: "cleanup": ` + msg; !apierrors.IsInvalid(err) || err.Error() != want {
		t.Errorf("finalize with a bad name: %v, want %s", err, want)
	}
	if err := finalize("kubernetes", "example.com/cleanup"); err != nil {
		t.Errorf("finalize with a qualified name: %v", err)
	}
	if err := finalize(); err != nil {
		t.Errorf("finalize with none: %v", err)
	}
}

// TestNameLabel: the kubernetes.io/metadata.name label is the server's: an
// update that changes or removes it gets it back.
func TestNameLabel(t *testing.T) {
	ctx := context.Background()
	namespaces := newStore(t)
	if _, err := namespaces.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{corev1.LabelMetadataName: "other"}}}, false); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		desc string
		set  func(labels map[string]string)
	}{
		{"changed", func(l map[string]string) { l[corev1.LabelMetadataName] = "other" }},
		{"removed", func(l map[string]string) { delete(l, corev1.LabelMetadataName) }},
		{"all labels removed", nil},
	} {
		out, err := namespaces.Update(ctx, "", "ns", func(cur runtime.Object) (runtime.Object, error) {
			ns := cur.(*corev1.Namespace).DeepCopy()
			if tc.set == nil {
				ns.Labels = nil
			} else {
				tc.set(ns.Labels)
			}
			return ns, nil
		}, registry.UpdateOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.desc, err)
		}
		if got := out.(*corev1.Namespace).Labels[corev1.LabelMetadataName]; got != "ns" {
			t.Errorf("%s: label %q, want ns", tc.desc, got)
		}
	}
	obj, _ := namespaces.Get(ctx, "", "ns")
	if got := obj.(*corev1.Namespace).Labels[corev1.LabelMetadataName]; got != "ns" {
		t.Errorf("stored label %q", got)
	}
}
