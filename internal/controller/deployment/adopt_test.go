package deployment

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller/controllertest"
	"github.com/peapod/peapod/internal/registry"
	deployapi "github.com/peapod/peapod/internal/registry/deployment"
	rsapi "github.com/peapod/peapod/internal/registry/replicaset"
)

// TestAdoptOrphanedReplicaSet: a Deployment made again after an orphaning
// delete adopts the ReplicaSet its predecessor left (same template, so no
// new one is made), and releases a ReplicaSet relabelled out of its
// selector, making a replacement under a new hash once the name collides.
func TestAdoptOrphanedReplicaSet(t *testing.T) {
	ctx := context.Background()
	env := controllertest.New(t, "deployment-controller")
	deps, rss := env.Store(deployapi.Resource()), env.Store(rsapi.Resource())
	c := &Controller{Deployments: deps, ReplicaSets: rss, Pods: env.Pods, Recorder: env.Recorder, Log: env.Log, Now: time.Now}

	one := int32(1)
	newDeployment := func() *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
			Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
		}}
	}
	sync := func() {
		t.Helper()
		if _, err := c.sync(ctx, "default/web"); err != nil {
			t.Fatal(err)
		}
	}
	list := func() []*appsv1.ReplicaSet {
		t.Helper()
		obj, err := rss.List(ctx, "default", registry.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []*appsv1.ReplicaSet
		for i := range obj.(*appsv1.ReplicaSetList).Items {
			out = append(out, &obj.(*appsv1.ReplicaSetList).Items[i])
		}
		return out
	}
	first, err := deps.Create(ctx, "default", newDeployment(), false)
	if err != nil {
		t.Fatal(err)
	}
	sync()
	made := list()
	if len(made) != 1 {
		t.Fatalf("%d ReplicaSets, want 1", len(made))
	}
	// Orphaned: the ReplicaSet loses its owner and the Deployment goes.
	if _, err := rss.Update(ctx, "default", made[0].Name, func(cur runtime.Object) (runtime.Object, error) {
		rs := cur.(*appsv1.ReplicaSet).DeepCopy()
		rs.OwnerReferences = nil
		return rs, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := deps.Delete(ctx, "default", "web", &metav1.DeleteOptions{}, false); err != nil {
		t.Fatal(err)
	}
	second, err := deps.Create(ctx, "default", newDeployment(), false)
	if err != nil {
		t.Fatal(err)
	}
	if second.(metav1.Object).GetUID() == first.(metav1.Object).GetUID() {
		t.Fatal("the second Deployment has the first one's UID")
	}
	sync()
	after := list()
	if len(after) != 1 || after[0].Name != made[0].Name {
		t.Fatalf("ReplicaSets after the new Deployment's sync: %d (want the old one only)", len(after))
	}
	if ref := metav1.GetControllerOf(after[0]); ref == nil || ref.UID != second.(metav1.Object).GetUID() || ref.Kind != "Deployment" {
		t.Errorf("the orphan's controller %v, want the new Deployment", ref)
	}

	// Relabelled out of the selector, it is released (and replaced).
	if _, err := rss.Update(ctx, "default", made[0].Name, func(cur runtime.Object) (runtime.Object, error) {
		rs := cur.(*appsv1.ReplicaSet).DeepCopy()
		rs.Labels = map[string]string{"app": "kept"}
		return rs, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Its name is the new ReplicaSet's too: the collision count goes up
	// and the next sync makes one under another hash (as upstream).
	if _, err := c.sync(ctx, "default/web"); !errors.Is(err, errCollision) {
		t.Fatalf("sync after the release: %v, want the name collision", err)
	}
	sync()
	var replacement bool
	for _, rs := range list() {
		ref := metav1.GetControllerOf(rs)
		switch {
		case rs.Name == made[0].Name && ref != nil:
			t.Errorf("a relabelled ReplicaSet is still owned: %v", ref)
		case rs.Name != made[0].Name && ref != nil && ref.UID == second.(metav1.Object).GetUID():
			replacement = true
		}
	}
	if !replacement {
		t.Errorf("no ReplicaSet replaced the released one")
	}
	obj, err := deps.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if cc := obj.(*appsv1.Deployment).Status.CollisionCount; cc == nil || *cc != 1 {
		t.Errorf("collisionCount %v, want 1", cc)
	}
}
