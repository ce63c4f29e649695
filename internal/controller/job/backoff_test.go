package job

import (
	"context"
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

// TestFailureBackOff: after n consecutive pod failures the Job makes its
// next pod only 10 s × 2^(n−1) after the last one (upstream's
// DefaultJobPodFailureBackOff, doubling), and says when to look again.
func TestFailureBackOff(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	env := controllertest.New(t, "job-controller")
	jobs, pods := env.Store(jobapi.Resource()), env.Pods
	c := &Controller{Jobs: jobs, Pods: pods, Recorder: env.Recorder, Log: env.Log, Now: func() time.Time { return now }, backoff: map[types.UID]backoffRecord{}}
	if _, err := jobs.Create(ctx, "default", &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "flaky"}, Spec: batchv1.JobSpec{
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
	}}, false); err != nil {
		t.Fatal(err)
	}
	sync := func() time.Duration {
		t.Helper()
		again, err := c.sync(ctx, "default/flaky")
		if err != nil {
			t.Fatal(err)
		}
		return again
	}
	active := func() []*corev1.Pod {
		t.Helper()
		all, err := controller.ListPods(ctx, pods, "default")
		if err != nil {
			t.Fatal(err)
		}
		var out []*corev1.Pod
		for _, p := range all {
			if p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
				out = append(out, p)
			}
		}
		return out
	}
	fail := func(p *corev1.Pod) {
		t.Helper()
		if _, err := pods.Update(ctx, "default", p.Name, func(cur runtime.Object) (runtime.Object, error) {
			q := cur.(*corev1.Pod).DeepCopy()
			q.Status.Phase = corev1.PodFailed
			return q, nil
		}, registry.UpdateOptions{Status: true}); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	for n, want := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second} {
		a := active()
		if len(a) != 1 {
			t.Fatalf("before failure %d: %d active pods, want 1", n+1, len(a))
		}
		fail(a[0])
		again := sync()
		if len(active()) != 0 {
			t.Fatalf("after failure %d: a pod was made at once", n+1)
		}
		if again <= 0 || again > want {
			t.Errorf("after failure %d: look again in %s, want within %s", n+1, again, want)
		}
		now = now.Add(want - time.Second)
		sync()
		if len(active()) != 0 {
			t.Fatalf("after failure %d: a pod was made %s later, before the %s back-off", n+1, want-time.Second, want)
		}
		now = now.Add(2 * time.Second)
		sync()
	}
	if len(active()) != 1 {
		t.Errorf("after the last back-off: %d active pods, want 1", len(active()))
	}
}
