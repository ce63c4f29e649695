package job

import (
	"context"
	"strings"
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

// TestElasticIndexedJob: an Indexed Job's completions change together
// with parallelism (and only so); scaled down, the pods of the indexes
// beyond completions go, and completed indexes beyond it no longer count.
func TestElasticIndexedJob(t *testing.T) {
	ctx := context.Background()
	env := controllertest.New(t, "job-controller")
	jobs, pods := env.Store(jobapi.Resource()), env.Pods
	c := &Controller{Jobs: jobs, Pods: pods, Recorder: env.Recorder, Log: env.Log, Now: time.Now, backoff: map[types.UID]backoffRecord{}}

	four, mode := int32(4), batchv1.IndexedCompletion
	if _, err := jobs.Create(ctx, "default", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "elastic"}, Spec: batchv1.JobSpec{
		Parallelism: &four, Completions: &four, CompletionMode: &mode,
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
	}}, false); err != nil {
		t.Fatal(err)
	}
	sync := func() {
		t.Helper()
		if _, err := c.sync(ctx, "default/elastic"); err != nil {
			t.Fatal(err)
		}
	}
	live := func() map[int]*corev1.Pod {
		t.Helper()
		all, err := controller.ListPods(ctx, pods, "default")
		if err != nil {
			t.Fatal(err)
		}
		out := map[int]*corev1.Pod{}
		for _, p := range all {
			finished := p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
			if i, ok := podIndex(p); ok && p.DeletionTimestamp == nil && !finished {
				out[i] = p
			}
		}
		return out
	}
	sync()
	if n := len(live()); n != 4 {
		t.Fatalf("%d pods, want 4", n)
	}
	// Index 3 succeeds.
	if _, err := pods.Update(ctx, "default", live()[3].Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod).DeepCopy()
		p.Status.Phase = corev1.PodSucceeded
		return p, nil
	}, registry.UpdateOptions{Status: true}); err != nil {
		t.Fatal(err)
	}
	sync()
	status := func() batchv1.JobStatus {
		obj, err := jobs.Get(ctx, "default", "elastic")
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*batchv1.Job).Status
	}
	if s := status(); s.CompletedIndexes != "3" || s.Succeeded != 1 {
		t.Fatalf("completed %q, succeeded %d; want 3 and 1", s.CompletedIndexes, s.Succeeded)
	}

	scale := func(completions, parallelism int32) error {
		_, err := jobs.Update(ctx, "default", "elastic", func(cur runtime.Object) (runtime.Object, error) {
			j := cur.(*batchv1.Job).DeepCopy()
			j.Spec.Completions, j.Spec.Parallelism = &completions, &parallelism
			return j, nil
		}, registry.UpdateOptions{})
		return err
	}
	if err := scale(3, 2); err == nil || !strings.Contains(err.Error(), "spec.completions: Invalid value: 3: can only be modified in tandem with spec.parallelism") {
		t.Errorf("completions apart from parallelism: %v", err)
	}
	if err := scale(2, 2); err != nil {
		t.Fatal(err)
	}
	sync()
	sync() // the deleted pod's update: released, not counted as failed
	got := live()
	if len(got) != 2 || got[0] == nil || got[1] == nil {
		t.Errorf("after scaling to 2, live indexes %v, want 0 and 1", keys(got))
	}
	if s := status(); s.CompletedIndexes != "" || s.Succeeded != 0 || s.Failed != 0 {
		t.Errorf("after scaling to 2: completed %q, succeeded %d, failed %d; want none", s.CompletedIndexes, s.Succeeded, s.Failed)
	}
	// Back up to 4: indexes 2 and 3 run again.
	if err := scale(4, 4); err != nil {
		t.Fatal(err)
	}
	sync()
	if got := live(); len(got) != 4 {
		all, _ := controller.ListPods(ctx, pods, "default")
		for _, p := range all {
			i, _ := podIndex(p)
			t.Logf("pod %s index %d phase %s deleting %v finalizers %v", p.Name, i, p.Status.Phase, p.DeletionTimestamp != nil, p.Finalizers)
		}
		t.Logf("status %+v", status())
		t.Errorf("after scaling back to 4, live indexes %v", keys(got))
	}
}

func keys(m map[int]*corev1.Pod) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}
