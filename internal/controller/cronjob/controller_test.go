package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	cronjobapi "github.com/peapod/peapod/internal/registry/cronjob"
	jobapi "github.com/peapod/peapod/internal/registry/job"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/testutil"
)

// clock is a settable time.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// sink keeps the events a recorder writes.
type sink struct {
	mu     sync.Mutex
	events []corev1.Event
}

func (s *sink) Create(ctx context.Context, ns string, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, *obj.(*corev1.Event))
	return obj, nil
}

func (s *sink) Update(ctx context.Context, ns, name string, fn registry.UpdateFunc, opts registry.UpdateOptions) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.events {
		if s.events[i].Name == name {
			out, err := fn(&s.events[i])
			if err != nil {
				return nil, err
			}
			s.events[i] = *out.(*corev1.Event)
			return out, nil
		}
	}
	return nil, fmt.Errorf("no event %s", name)
}

type fixture struct {
	t        *testing.T
	ctx      context.Context
	clock    *clock
	c        *Controller
	cronJobs *registry.Store
	jobs     *registry.Store
	sink     *sink
}

var t0 = time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC) // a Monday

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st := testutil.OpenStore(t)
	f := &fixture{t: t, ctx: context.Background(), clock: &clock{now: t0}, sink: &sink{}}
	if _, err := registry.NewStore(namespace.Resource(), st, f.clock.Now).Create(f.ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, false); err != nil {
		t.Fatal(err)
	}
	f.cronJobs = registry.NewStore(cronjobapi.Resource(), st, f.clock.Now)
	f.jobs = registry.NewStore(jobapi.Resource(), st, f.clock.Now)
	f.c = &Controller{CronJobs: f.cronJobs, Jobs: f.jobs, Log: slog.New(slog.DiscardHandler), Now: f.clock.Now}
	f.c.Recorder = events.NewRecorder(f.sink, events.Source{Component: "cronjob-controller"}, f.clock.Now, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { f.c.Recorder.Stop() })
	return f
}

// events stops the recorder, so that every event recorded is written,
// returns them as "Reason: message" and starts a new recorder.
func (f *fixture) events() []string {
	f.c.Recorder.Stop()
	f.c.Recorder = events.NewRecorder(f.sink, events.Source{Component: "cronjob-controller"}, f.clock.Now, slog.New(slog.DiscardHandler))
	f.sink.mu.Lock()
	defer f.sink.mu.Unlock()
	var out []string
	for _, e := range f.sink.events {
		out = append(out, e.Reason+": "+e.Message)
	}
	f.sink.events = nil
	return out
}

func (f *fixture) create(schedule string, mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	f.t.Helper()
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick"}, Spec: batchv1.CronJobSpec{
		Schedule: schedule,
		JobTemplate: batchv1.JobTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}, Annotations: map[string]string{"note": "x"}},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}}},
	}}
	if mutate != nil {
		mutate(cj)
	}
	obj, err := f.cronJobs.Create(f.ctx, "default", cj, false)
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*batchv1.CronJob)
}

// syncAt sets the clock and syncs the CronJob, returning the requeue.
func (f *fixture) syncAt(at time.Time) time.Duration {
	f.t.Helper()
	f.clock.Set(at)
	d, err := f.c.sync(f.ctx, "default/tick")
	if err != nil {
		f.t.Fatalf("sync at %s: %v", at, err)
	}
	return d
}

func (f *fixture) cronJob() *batchv1.CronJob {
	f.t.Helper()
	obj, err := f.cronJobs.Get(f.ctx, "default", "tick")
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*batchv1.CronJob)
}

// jobNames are the Jobs not being deleted, by name.
func (f *fixture) jobNames() []string {
	f.t.Helper()
	list, err := f.jobs.List(f.ctx, "default", registry.ListOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, j := range list.(*batchv1.JobList).Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j.Name)
		}
	}
	sort.Strings(out)
	return out
}

func (f *fixture) job(name string) *batchv1.Job {
	f.t.Helper()
	obj, err := f.jobs.Get(f.ctx, "default", name)
	if err != nil {
		f.t.Fatal(err)
	}
	return obj.(*batchv1.Job)
}

// finish marks a Job finished (Complete or Failed) at a time.
func (f *fixture) finish(name string, cond batchv1.JobConditionType, started, at time.Time) {
	f.t.Helper()
	err := controller.UpdateStatus(f.ctx, f.jobs, "default", name, f.job(name).UID, func(j *batchv1.Job) {
		s, e := metav1.NewTime(started), metav1.NewTime(at)
		j.Status.StartTime = &s
		j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: e})
		if cond == batchv1.JobComplete {
			j.Status.CompletionTime = &e
		}
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func jobName(at time.Time) string { return fmt.Sprintf("tick-%d", at.Unix()/60) }

func same(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestScheduleNamesAndRequeue(t *testing.T) {
	f := newFixture(t)
	f.create("*/5 * * * *", nil)
	// Before the first time: nothing, and a wake-up just after it.
	if d := f.syncAt(t0.Add(time.Minute)); d != 3*time.Minute+30*time.Second+nextScheduleDelta {
		t.Errorf("requeue %s before the first time", d)
	}
	if got := f.jobNames(); len(got) != 0 {
		t.Fatalf("jobs before the first time: %v", got)
	}
	at := time.Date(2026, 3, 2, 10, 5, 0, 0, time.UTC)
	if d := f.syncAt(at.Add(10 * time.Second)); d != 4*time.Minute+50*time.Second+nextScheduleDelta {
		t.Errorf("requeue %s after the first time", d)
	}
	if got := f.jobNames(); !same(got, []string{jobName(at)}) {
		t.Fatalf("jobs %v, want %s", got, jobName(at))
	}
	j := f.job(jobName(at))
	if j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] != "2026-03-02T10:05:00Z" || j.Annotations["note"] != "x" || j.Labels["team"] != "a" {
		t.Errorf("job metadata: labels %v annotations %v", j.Labels, j.Annotations)
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.Kind != "CronJob" || ref.Name != "tick" {
		t.Errorf("job controller: %v", ref)
	}
	cj := f.cronJob()
	if cj.Status.LastScheduleTime == nil || !cj.Status.LastScheduleTime.Time.Equal(at) || len(cj.Status.Active) != 1 || cj.Status.Active[0].Name != jobName(at) {
		t.Errorf("status: %+v", cj.Status)
	}
	if ev := f.events(); !same(ev, []string{"SuccessfulCreate: Created job " + jobName(at)}) {
		t.Errorf("events %q", ev)
	}
	// The same time again makes nothing new.
	f.syncAt(at.Add(20 * time.Second))
	if got := f.jobNames(); len(got) != 1 {
		t.Errorf("jobs after a second sync: %v", got)
	}
}

func TestMacros(t *testing.T) {
	for _, tc := range []struct {
		schedule string
		now, due time.Time
	}{
		{"@hourly", time.Date(2026, 3, 2, 11, 0, 5, 0, time.UTC), time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)},
		{"@daily", time.Date(2026, 3, 3, 0, 0, 5, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
		{"@midnight", time.Date(2026, 3, 3, 0, 1, 0, 0, time.UTC), time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
		{"@weekly", time.Date(2026, 3, 8, 0, 0, 1, 0, time.UTC), time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)}, // Sunday
		{"@monthly", time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC), time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"@yearly", time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			f := newFixture(t)
			f.create(tc.schedule, nil)
			f.syncAt(tc.due.Add(-time.Second))
			if got := f.jobNames(); len(got) != 0 {
				t.Fatalf("jobs before %s: %v", tc.due, got)
			}
			f.syncAt(tc.now)
			if got := f.jobNames(); !same(got, []string{jobName(tc.due)}) {
				t.Fatalf("jobs %v, want %s", got, jobName(tc.due))
			}
		})
	}
}

func TestTimeZone(t *testing.T) {
	f := newFixture(t)
	tz := "Asia/Tokyo" // UTC+9, no daylight saving
	f.create("0 20 * * *", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = &tz })
	// 20:00 in Tokyo is 11:00 UTC; 20:00 UTC has no meaning here.
	f.syncAt(time.Date(2026, 3, 2, 10, 59, 0, 0, time.UTC))
	if got := f.jobNames(); len(got) != 0 {
		t.Fatalf("jobs before 20:00 Tokyo: %v", got)
	}
	due := time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)
	f.syncAt(due.Add(time.Second))
	if got := f.jobNames(); !same(got, []string{jobName(due)}) {
		t.Fatalf("jobs %v, want %s", got, jobName(due))
	}
	if a := f.job(jobName(due)).Annotations[batchv1.CronJobScheduledTimestampAnnotation]; a != "2026-03-02T20:00:00+09:00" {
		t.Errorf("scheduled timestamp %q, want the time in the CronJob's zone", a)
	}

}

func TestStartingDeadline(t *testing.T) {
	// Missed times older than the deadline are not run; the latest
	// within it is.
	f := newFixture(t)
	deadline := int64(100)
	f.create("*/1 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = &deadline })
	now := time.Date(2026, 3, 2, 10, 30, 30, 0, time.UTC)
	f.syncAt(now)
	if got := f.jobNames(); !same(got, []string{jobName(now.Truncate(time.Minute))}) {
		t.Fatalf("jobs %v, want only the latest time's", got)
	}
	if ev := f.events(); !same(ev, []string{"SuccessfulCreate: Created job " + jobName(now.Truncate(time.Minute))}) {
		t.Errorf("events %q", ev)
	}

	// A deadline shorter than the time since the last schedule: nothing
	// runs until the next time.
	g := newFixture(t)
	short := int64(20)
	g.create("*/1 * * * *", func(cj *batchv1.CronJob) { cj.Spec.StartingDeadlineSeconds = &short })
	if d := g.syncAt(now); d != 30*time.Second+nextScheduleDelta {
		t.Errorf("requeue %s", d)
	}
	if got := g.jobNames(); len(got) != 0 {
		t.Errorf("jobs past the deadline: %v", got)
	}
}

func TestTooManyMissed(t *testing.T) {
	// 200 minutes of an every-minute schedule missed, no deadline: a
	// warning, and the most recent time runs (not the 101st).
	f := newFixture(t)
	f.create("*/1 * * * *", nil)
	now := t0.Add(200 * time.Minute)
	f.syncAt(now)
	due := now.Truncate(time.Minute)
	if got := f.jobNames(); !same(got, []string{jobName(due)}) {
		t.Fatalf("jobs %v, want %s", got, jobName(due))
	}
	want := []string{"TooManyMissedTimes: too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
		"SuccessfulCreate: Created job " + jobName(due)}
	if ev := f.events(); !same(ev, want) {
		t.Errorf("events %q, want %q", ev, want)
	}
	// A few missed: no warning.
	g := newFixture(t)
	g.create("*/1 * * * *", nil)
	g.syncAt(t0.Add(50 * time.Minute))
	if ev := g.events(); len(ev) != 1 || !strings.HasPrefix(ev[0], "SuccessfulCreate") {
		t.Errorf("events %q", ev)
	}
}

func TestMostRecentScheduleTime(t *testing.T) {
	created := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC) // Monday
	for _, tc := range []struct {
		name     string
		schedule string
		now      time.Time
		want     time.Time // zero: none
		missed   int
	}{
		{"none yet", "0 * * * *", created.Add(30 * time.Minute), time.Time{}, 0},
		{"one", "0 * * * *", created.Add(90 * time.Minute), created.Add(time.Hour), 1},
		{"three", "0 * * * *", created.Add(3*time.Hour + time.Minute), created.Add(3 * time.Hour), 3},
		{"uneven gaps", "30 6-16/4 * * 1-5", time.Date(2026, 3, 3, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 6, 30, 0, 0, time.UTC), 4},
		{"many", "*/1 * * * *", created.Add(1000*time.Minute + 30*time.Second), created.Add(1000 * time.Minute), 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := cronjobapi.ParseSchedule(tc.schedule, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
			got, missed := mostRecentScheduleTime(cj, nil, tc.now, sched)
			if (got == nil) != tc.want.IsZero() || (got != nil && !got.Equal(tc.want)) || missed != tc.missed {
				t.Errorf("got %v, %d missed; want %v, %d", got, missed, tc.want, tc.missed)
			}
		})
	}
}

func TestConcurrencyPolicy(t *testing.T) {
	first := time.Date(2026, 3, 2, 10, 1, 0, 0, time.UTC)
	second := first.Add(time.Minute)
	for _, tc := range []struct {
		policy batchv1.ConcurrencyPolicy
		jobs   []string
		events []string
	}{
		{batchv1.AllowConcurrent, []string{jobName(first), jobName(second)},
			[]string{"SuccessfulCreate: Created job " + jobName(second)}},
		{batchv1.ForbidConcurrent, []string{jobName(first)},
			[]string{"JobAlreadyActive: Not starting job because prior execution is running and concurrency policy is Forbid"}},
		{batchv1.ReplaceConcurrent, []string{jobName(second)},
			[]string{"SuccessfulDelete: Deleted job " + jobName(first), "SuccessfulCreate: Created job " + jobName(second)}},
	} {
		t.Run(string(tc.policy), func(t *testing.T) {
			f := newFixture(t)
			f.create("*/1 * * * *", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = tc.policy })
			f.syncAt(first.Add(time.Second))
			f.events()
			f.syncAt(second.Add(time.Second))
			if got := f.jobNames(); !same(got, tc.jobs) {
				t.Errorf("jobs %v, want %v", got, tc.jobs)
			}
			if ev := f.events(); !same(ev, tc.events) {
				t.Errorf("events %q, want %q", ev, tc.events)
			}
			var active []string
			for _, ref := range f.cronJob().Status.Active {
				active = append(active, ref.Name)
			}
			if !same(active, tc.jobs) {
				t.Errorf("status.active %v, want %v", active, tc.jobs)
			}
			// Once the running job finishes, Forbid runs the next time.
			if tc.policy == batchv1.ForbidConcurrent {
				f.finish(jobName(first), batchv1.JobComplete, first, second.Add(2*time.Second))
				third := second.Add(time.Minute)
				f.syncAt(third.Add(time.Second))
				if got := f.jobNames(); !same(got, []string{jobName(first), jobName(third)}) {
					t.Errorf("jobs after the first finished: %v", got)
				}
				if ev := f.events(); !same(ev, []string{"SawCompletedJob: Saw completed job: " + jobName(first) + ", condition: Complete",
					"SuccessfulCreate: Created job " + jobName(third)}) {
					t.Errorf("events %q", ev)
				}
				if s := f.cronJob().Status.LastSuccessfulTime; s == nil || !s.Time.Equal(second.Add(2*time.Second)) {
					t.Errorf("lastSuccessfulTime %v", s)
				}
			}
		})
	}
}

func TestSuspend(t *testing.T) {
	f := newFixture(t)
	yes := true
	f.create("*/1 * * * *", func(cj *batchv1.CronJob) { cj.Spec.Suspend = &yes })
	f.syncAt(t0.Add(5 * time.Minute))
	if got := f.jobNames(); len(got) != 0 {
		t.Fatalf("a suspended CronJob made %v", got)
	}
	// Resumed, it runs the latest time it missed.
	if _, err := f.cronJobs.Update(f.ctx, "default", "tick", func(cur runtime.Object) (runtime.Object, error) {
		o := cur.(*batchv1.CronJob).DeepCopy()
		no := false
		o.Spec.Suspend = &no
		return o, nil
	}, registry.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(5*time.Minute + 10*time.Second)
	f.syncAt(now)
	if got := f.jobNames(); !same(got, []string{jobName(now.Truncate(time.Minute))}) {
		t.Errorf("jobs after resume: %v", got)
	}
}

func TestHistoryLimits(t *testing.T) {
	f := newFixture(t)
	f.create("*/1 * * * *", func(cj *batchv1.CronJob) {
		one, two := int32(1), int32(2)
		cj.Spec.SuccessfulJobsHistoryLimit = &two
		cj.Spec.FailedJobsHistoryLimit = &one
	})
	// Five runs: three succeed, two fail, each finished before the next.
	var times []time.Time
	for i := 1; i <= 5; i++ {
		at := time.Date(2026, 3, 2, 10, i, 0, 0, time.UTC)
		times = append(times, at)
		f.syncAt(at.Add(time.Second))
		cond := batchv1.JobComplete
		if i == 2 || i == 4 {
			cond = batchv1.JobFailed
		}
		f.finish(jobName(at), cond, at.Add(time.Second), at.Add(10*time.Second))
	}
	f.syncAt(times[4].Add(20 * time.Second))
	// Kept: the two newest successes (3 and 5) and the newest failure (4).
	want := []string{jobName(times[2]), jobName(times[3]), jobName(times[4])}
	sort.Strings(want)
	if got := f.jobNames(); !same(got, want) {
		t.Errorf("jobs kept %v, want %v", got, want)
	}
}
