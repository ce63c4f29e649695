package replicaset

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/controller/controllertest"
	"github.com/peapod/peapod/internal/registry"
	rsapi "github.com/peapod/peapod/internal/registry/replicaset"
)

// TestAdoptReleaseAndAvailability: a ReplicaSet adopts an orphan pod its
// selector matches instead of making one more, leaves pods it does not
// match alone, releases a pod relabelled out of its selector (and makes a
// replacement), and counts a ready pod available only minReadySeconds
// after it turned ready, asking to look again then.
func TestAdoptReleaseAndAvailability(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	env := controllertest.New(t, "replicaset-controller")
	rss, pods := env.Store(rsapi.Resource()), env.Pods
	c := &Controller{ReplicaSets: rss, Pods: pods, Recorder: env.Recorder, Log: env.Log, Now: func() time.Time { return now }}

	spec := corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
	for name, app := range map[string]string{"stray": "web", "other": "elsewhere"} {
		if _, err := pods.Create(ctx, "default", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}}, Spec: spec}, false); err != nil {
			t.Fatal(err)
		}
	}
	two := int32(2)
	obj, err := rss.Create(ctx, "default", &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.ReplicaSetSpec{
		Replicas: &two, MinReadySeconds: 10,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: spec},
	}}, false)
	if err != nil {
		t.Fatal(err)
	}
	rs := obj.(*appsv1.ReplicaSet)
	sync := func() time.Duration {
		t.Helper()
		again, err := c.sync(ctx, "default/web")
		if err != nil {
			t.Fatal(err)
		}
		return again
	}
	get := func(name string) *corev1.Pod {
		t.Helper()
		obj, err := pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.Pod)
	}
	owned := func() []*corev1.Pod {
		t.Helper()
		all, err := controller.ListPods(ctx, pods, "default")
		if err != nil {
			t.Fatal(err)
		}
		var out []*corev1.Pod
		for _, p := range all {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && p.DeletionTimestamp == nil {
				out = append(out, p)
			}
		}
		return out
	}
	sync()
	if ref := metav1.GetControllerOf(get("stray")); ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
		t.Errorf("the orphan pod's controller %v, want the ReplicaSet", ref)
	}
	if ref := metav1.GetControllerOf(get("other")); ref != nil {
		t.Errorf("a pod the selector does not match was adopted: %v", ref)
	}
	if n := len(owned()); n != 2 {
		t.Errorf("%d pods owned, want 2 (the adopted one and one made)", n)
	}

	// All ready now: available only after minReadySeconds.
	for _, p := range owned() {
		if _, err := pods.Update(ctx, "default", p.Name, func(cur runtime.Object) (runtime.Object, error) {
			q := cur.(*corev1.Pod).DeepCopy()
			q.Status.Phase = corev1.PodRunning
			q.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now)}}
			return q, nil
		}, registry.UpdateOptions{Status: true}); err != nil {
			t.Fatal(err)
		}
	}
	again := sync()
	status := func() appsv1.ReplicaSetStatus {
		obj, err := rss.Get(ctx, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*appsv1.ReplicaSet).Status
	}
	if s := status(); s.ReadyReplicas != 2 || s.AvailableReplicas != 0 {
		t.Errorf("just ready: ready %d, available %d; want 2 and 0 (minReadySeconds 10)", s.ReadyReplicas, s.AvailableReplicas)
	}
	if again <= 0 || again > 10*time.Second {
		t.Errorf("asks to look again in %s, want within minReadySeconds", again)
	}
	now = now.Add(11 * time.Second)
	sync()
	if s := status(); s.AvailableReplicas != 2 {
		t.Errorf("after minReadySeconds: available %d, want 2", s.AvailableReplicas)
	}

	// Relabelled out of the selector: released, and replaced.
	if _, err := pods.Update(ctx, "default", "stray", func(cur runtime.Object) (runtime.Object, error) {
		q := cur.(*corev1.Pod).DeepCopy()
		q.Labels["app"] = "debug"
		return q, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	sync()
	if ref := metav1.GetControllerOf(get("stray")); ref != nil {
		t.Errorf("a relabelled pod is still owned: %v", ref)
	}
	if n := len(owned()); n != 2 {
		t.Errorf("after the release %d pods owned, want 2 (a replacement made)", n)
	}
}
