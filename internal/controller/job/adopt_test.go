package job

import (
	"context"
	"slices"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/controller/controllertest"
	"github.com/peapod/peapod/internal/registry"
	jobapi "github.com/peapod/peapod/internal/registry/job"
)

// TestAdoptAndRelease: a Job with a manual selector adopts the orphan
// pods it matches (with the tracking finalizer), counts them instead of
// making its own, leaves other pods alone and releases a pod it no longer
// matches.
func TestAdoptAndRelease(t *testing.T) {
	ctx := context.Background()
	env := controllertest.New(t, "job-controller")
	jobs, pods := env.Store(jobapi.Resource()), env.Pods
	c := &Controller{Jobs: jobs, Pods: pods, Recorder: env.Recorder, Log: env.Log, Now: time.Now, backoff: map[types.UID]backoffRecord{}}

	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}
	for name, app := range map[string]string{"stray": "manual", "other": "elsewhere"} {
		if _, err := pods.Create(ctx, "default", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}}, Spec: spec}, false); err != nil {
			t.Fatal(err)
		}
	}
	yes, one := true, int32(1)
	obj, err := jobs.Create(ctx, "default", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "manual"}, Spec: batchv1.JobSpec{
		ManualSelector: &yes, Parallelism: &one, Completions: &one,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "manual"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "manual"}}, Spec: spec},
	}}, false)
	if err != nil {
		t.Fatal(err)
	}
	j := obj.(*batchv1.Job)
	if _, err := c.sync(ctx, "default/manual"); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *corev1.Pod {
		obj, err := pods.Get(ctx, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*corev1.Pod)
	}
	stray := get("stray")
	if ref := metav1.GetControllerOf(stray); ref == nil || ref.UID != j.UID || ref.Kind != "Job" {
		t.Fatalf("stray's controller %v, want the Job", ref)
	}
	if !slices.Contains(stray.Finalizers, batchv1.JobTrackingFinalizer) {
		t.Errorf("adopted pod's finalizers %v lack %s", stray.Finalizers, batchv1.JobTrackingFinalizer)
	}
	if ref := metav1.GetControllerOf(get("other")); ref != nil {
		t.Errorf("a pod the selector does not match was adopted: %v", ref)
	}
	all, err := controller.ListPods(ctx, pods, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("%d pods: the Job made its own beside the one it adopted (parallelism 1)", len(all))
	}

	// Relabelled, the pod is released.
	if _, err := pods.Update(ctx, "default", "stray", func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*corev1.Pod).DeepCopy()
		o.Labels["app"] = "gone"
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.sync(ctx, "default/manual"); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(get("stray")); ref != nil {
		t.Errorf("relabelled pod still owned: %v", ref)
	}
}
