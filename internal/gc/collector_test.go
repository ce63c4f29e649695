package gc

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/configmap"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/replicaset"
	"github.com/peapod/peapod/internal/testutil"
)

// TestPropagation: with ReplicaSets as owners and ConfigMaps as their
// dependents, background deletion removes the dependents after the owner,
// orphan strips the owner reference before the owner goes, foreground
// keeps the owner until its blocking dependents are gone, and a dependent
// with another owner left only loses the reference to the gone one.
func TestPropagation(t *testing.T) {
	st := testutil.OpenStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := registry.NewStore(namespace.Resource(), st, time.Now)
	if _, err := ns.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	rss := registry.NewStore(replicaset.Resource(), st, time.Now)
	cms := registry.NewStore(configmap.Resource(), st, time.Now)
	c := &Collector{Stores: []controller.Store{rss, cms, ns}, Log: slog.New(slog.DiscardHandler), Resync: time.Hour}
	go c.Run(ctx)

	owner := func(name string) *appsv1.ReplicaSet {
		n := int32(0)
		obj, err := rss.Create(ctx, "default", &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.ReplicaSetSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}}, false)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*appsv1.ReplicaSet)
	}
	dependent := func(name string, owners ...*appsv1.ReplicaSet) {
		var refs []metav1.OwnerReference
		for _, o := range owners {
			refs = append(refs, controller.NewControllerRef(o, "apps/v1", "ReplicaSet"))
			if len(refs) > 1 {
				refs[len(refs)-1].Controller = nil
			}
		}
		if _, err := cms.Create(ctx, "default", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: refs}}, false); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) (*corev1.ConfigMap, bool) {
		obj, err := cms.Get(ctx, "default", name)
		if apierrors.IsNotFound(err) {
			return nil, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.ConfigMap), true
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	del := func(name string, policy metav1.DeletionPropagation) {
		if _, _, err := rss.Delete(ctx, "default", name, &metav1.DeleteOptions{PropagationPolicy: &policy}, false); err != nil {
			t.Fatal(err)
		}
	}

	bg, shared := owner("bg"), owner("shared")
	dependent("bg-dep", bg)
	dependent("two-owners", bg, shared)
	del("bg", metav1.DeletePropagationBackground)
	waitFor("the background dependent to go", func() bool { _, ok := get("bg-dep"); return !ok })
	waitFor("the dangling reference to go", func() bool {
		cm, ok := get("two-owners")
		return ok && len(cm.OwnerReferences) == 1 && cm.OwnerReferences[0].UID == shared.UID
	})

	or := owner("or")
	dependent("or-dep", or)
	del("or", metav1.DeletePropagationOrphan)
	waitFor("the orphaned owner to go", func() bool { _, err := rss.Get(ctx, "default", "or"); return apierrors.IsNotFound(err) })
	if cm, ok := get("or-dep"); !ok || len(cm.OwnerReferences) != 0 {
		t.Errorf("orphan: dependent %v (exists %v), want it without owners", cm, ok)
	}

	fg := owner("fg")
	dependent("fg-dep", fg)
	// A finalizer of the dependent's own keeps it, and so the owner.
	if _, err := cms.Update(ctx, "default", "fg-dep", func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap).DeepCopy()
		cm.Finalizers = []string{"example.com/hold"}
		return cm, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	del("fg", metav1.DeletePropagationForeground)
	waitFor("the dependent to be marked", func() bool { cm, ok := get("fg-dep"); return ok && cm.DeletionTimestamp != nil })
	obj, err := rss.Get(ctx, "default", "fg")
	if err != nil || !slices.Contains(obj.(*appsv1.ReplicaSet).Finalizers, FinalizerForeground) {
		t.Fatalf("foreground owner: %v, %v; want it held by %s", obj, err, FinalizerForeground)
	}
	if _, err := cms.Update(ctx, "default", "fg-dep", func(cur runtime.Object) (runtime.Object, error) {
		cm := cur.(*corev1.ConfigMap).DeepCopy()
		cm.Finalizers = nil
		return cm, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor("the foreground owner to go", func() bool { _, err := rss.Get(ctx, "default", "fg"); return apierrors.IsNotFound(err) })
}
