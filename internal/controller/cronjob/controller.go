// Package cronjob is the CronJob controller of kube-controller-manager
// (pkg/controller/cronjob, cronjob_controllerv2.go): at each scheduled
// time of a CronJob (its schedule in its time zone) it creates a Job
// named <cronjob>-<minutes since the epoch> from the job template, within
// startingDeadlineSeconds and by its concurrencyPolicy (Allow, Forbid,
// Replace), tracks the active Jobs and the last schedule and success, and
// deletes finished Jobs beyond the history limits.
package cronjob

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	cronjobapi "github.com/peapod/peapod/internal/registry/cronjob"
)

// tooManyMissed is how many missed start times draw a warning.
const tooManyMissed = 100

// nextScheduleDelta is added to a wake-up so it falls after the time.
const nextScheduleDelta = 100 * time.Millisecond

// Controller runs CronJobs.
type Controller struct {
	CronJobs, Jobs controller.Store
	Recorder       *events.Recorder
	Log            *slog.Logger
	Now            func() time.Time

	loop *controller.Loop
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.loop = &controller.Loop{Name: "cronjob", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx,
		controller.Source{Store: c.CronJobs, Handle: c.loop.QueueObject},
		controller.Source{Store: c.Jobs, Handle: c.loop.QueueController("CronJob")})
}

// sync is syncCronJob; it returns when the next schedule is due.
func (c *Controller) sync(ctx context.Context, key string) (requeue time.Duration, err error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.CronJobs.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cj := obj.(*batchv1.CronJob).DeepCopy()
	jobs, err := c.ownedJobs(ctx, cj)
	if err != nil {
		return 0, err
	}
	now := c.Now()
	st := *cj.Status.DeepCopy()
	c.trackActive(cj, &st, jobs)
	defer func() {
		// What changed of the status is written whatever happened.
		if !apiequality.Semantic.DeepEqual(st, cj.Status) {
			if werr := c.writeStatus(ctx, cj, st); werr != nil && err == nil {
				requeue, err = 0, werr
			}
		}
	}()
	if err := c.cleanup(ctx, cj, jobs); err != nil {
		return 0, err
	}
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return 0, nil
	}
	loc := time.UTC
	if tz := cj.Spec.TimeZone; tz != nil {
		if loc, err = time.LoadLocation(*tz); err != nil {
			c.Recorder.Eventf(cj, "", events.Warning, "UnknownTimeZone", "invalid timeZone: %q: %s", *tz, err)
			return 0, nil
		}
	}
	sched, err := cronjobapi.ParseSchedule(cj.Spec.Schedule, loc)
	if err != nil {
		c.Recorder.Eventf(cj, "", events.Warning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		return 0, nil
	}
	wake := func() time.Duration { return sched.Next(now).Sub(now) + nextScheduleDelta }
	scheduled, missed := mostRecentScheduleTime(cj, st.LastScheduleTime, now, sched)
	if missed > tooManyMissed {
		c.Recorder.Eventf(cj, "", events.Warning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
	}
	if scheduled == nil {
		return wake(), nil
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.Recorder.Eventf(cj, "", events.Warning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return wake(), nil
	}
	jobName := fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
	for _, ref := range st.Active {
		if ref.Name == jobName {
			return wake(), nil // made already
		}
	}
	if st.LastScheduleTime != nil && !scheduled.After(st.LastScheduleTime.Time) {
		return wake(), nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(st.Active) > 0 {
			c.Recorder.Eventf(cj, "", events.Normal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return wake(), nil
		}
	case batchv1.ReplaceConcurrent:
		bg := metav1.DeletePropagationBackground
		for _, ref := range st.Active {
			_, _, err := c.Jobs.Delete(ctx, cj.Namespace, ref.Name, &metav1.DeleteOptions{PropagationPolicy: &bg}, false)
			if err != nil && !apierrors.IsNotFound(err) {
				c.Recorder.Eventf(cj, "", events.Warning, "FailedDelete", "Deleted job: %v", err)
				return 0, err
			}
			c.Recorder.Eventf(cj, "", events.Normal, "SuccessfulDelete", "Deleted job %s", ref.Name)
		}
		st.Active = nil
	}
	j, err := c.createJob(ctx, cj, jobName, *scheduled, loc)
	if err != nil {
		return 0, err
	}
	ref := corev1.ObjectReference{Kind: "Job", APIVersion: "batch/v1", Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion}
	st.Active = append(st.Active, ref)
	t := metav1.NewTime(*scheduled)
	st.LastScheduleTime = &t
	return wake(), nil
}

// mostRecentScheduleTime is the latest schedule time not after now since
// the last one (or the CronJob's creation, or now less the starting
// deadline when that is later), and about how many were missed. Past a
// hundred missed times (a clock off by years), the count is estimated from
// the interval between the first two and only the last ones are walked, as
// upstream does.
func mostRecentScheduleTime(cj *batchv1.CronJob, last *metav1.Time, now time.Time, sched cron.Schedule) (*time.Time, int) {
	earliest := cj.CreationTimestamp.Time
	if last != nil {
		earliest = last.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if s := now.Add(-time.Duration(*d) * time.Second); s.After(earliest) {
			earliest = s
		}
	}
	var latest time.Time
	missed := 0
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		latest = t
		missed++
		if missed <= tooManyMissed {
			continue
		}
		first := sched.Next(earliest)
		interval := sched.Next(first).Sub(first).Round(time.Second)
		if interval < time.Second {
			return nil, missed
		}
		missed = int(now.Sub(first)/interval) + 1
		// One interval short of the estimate, for schedules whose gaps
		// differ, then on to the last time not after now.
		latest = time.Time{}
		for t := sched.Next(first.Add(time.Duration(missed-2) * interval)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			latest = t
		}
		break
	}
	if latest.IsZero() {
		return nil, missed
	}
	return &latest, missed
}

// createJob makes the Job of one scheduled time from the job template.
func (c *Controller) createJob(ctx context.Context, cj *batchv1.CronJob, name string, scheduled time.Time, loc *time.Location) (*batchv1.Job, error) {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	annotations := tmpl.Annotations
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cj.Namespace, Labels: tmpl.Labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{controller.NewControllerRef(cj, "batch/v1", "CronJob")}},
		Spec: tmpl.Spec,
	}
	out, err := c.Jobs.Create(ctx, cj.Namespace, j, false)
	if apierrors.IsAlreadyExists(err) {
		got, gerr := c.Jobs.Get(ctx, cj.Namespace, name)
		if gerr != nil {
			return nil, gerr
		}
		if ref := metav1.GetControllerOf(got.(*batchv1.Job)); ref != nil && ref.UID == cj.UID {
			return got.(*batchv1.Job), nil
		}
		return nil, err
	}
	if err != nil {
		c.Recorder.Eventf(cj, "", events.Warning, "FailedCreate", "Error creating job: %v", err)
		return nil, err
	}
	c.Recorder.Eventf(cj, "", events.Normal, "SuccessfulCreate", "Created job %s", name)
	return out.(*batchv1.Job), nil
}

// ownedJobs are the Jobs the CronJob controls.
func (c *Controller) ownedJobs(ctx context.Context, cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	list, err := c.Jobs.List(ctx, cj.Namespace, registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for i := range list.(*batchv1.JobList).Items {
		j := &list.(*batchv1.JobList).Items[i]
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	return out, nil
}

// finished is the Job's Complete or Failed condition type ("" while it
// runs).
func finished(j *batchv1.Job) batchv1.JobConditionType {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type
		}
	}
	return ""
}

// trackActive keeps status.active to the running Jobs it owns, noting
// finished ones (SawCompletedJob) and the last success.
func (c *Controller) trackActive(cj *batchv1.CronJob, st *batchv1.CronJobStatus, jobs []*batchv1.Job) {
	byName := map[string]*batchv1.Job{}
	for _, j := range jobs {
		byName[j.Name] = j
	}
	var active []corev1.ObjectReference
	listed := map[string]bool{}
	for _, ref := range st.Active {
		j, ok := byName[ref.Name]
		switch {
		case !ok || j.UID != ref.UID:
			// Gone: nothing to say.
		case finished(j) != "":
			c.Recorder.Eventf(cj, "", events.Normal, "SawCompletedJob", "Saw completed job: %s, condition: %s", j.Name, finished(j))
			if finished(j) == batchv1.JobComplete && j.Status.CompletionTime != nil &&
				(st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time)) {
				t := *j.Status.CompletionTime
				st.LastSuccessfulTime = &t
			}
		default:
			active = append(active, ref)
			listed[ref.Name] = true
		}
	}
	for _, j := range jobs {
		if finished(j) == "" && !listed[j.Name] && j.DeletionTimestamp == nil {
			// A Job it owns but did not make at a schedule (kubectl
			// create job --from=cronjob/...): upstream says so and
			// does not count it as active.
			c.Recorder.Eventf(cj, "", events.Warning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		}
	}
	st.Active = active
}

// cleanup deletes the oldest finished Jobs beyond the history limits.
func (c *Controller) cleanup(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var done, failed []*batchv1.Job
	for _, j := range jobs {
		switch finished(j) {
		case batchv1.JobComplete:
			done = append(done, j)
		case batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	for _, group := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{done, cj.Spec.SuccessfulJobsHistoryLimit}, {failed, cj.Spec.FailedJobsHistoryLimit}} {
		if group.limit == nil || len(group.jobs) <= int(*group.limit) {
			continue
		}
		sort.SliceStable(group.jobs, func(a, b int) bool {
			sa, sb := group.jobs[a].Status.StartTime, group.jobs[b].Status.StartTime
			if sa == nil || sb == nil {
				return sb != nil
			}
			return sa.Before(sb)
		})
		bg := metav1.DeletePropagationBackground
		for _, j := range group.jobs[:len(group.jobs)-int(*group.limit)] {
			if j.DeletionTimestamp != nil {
				continue
			}
			_, _, err := c.Jobs.Delete(ctx, j.Namespace, j.Name, &metav1.DeleteOptions{PropagationPolicy: &bg}, false)
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			c.Recorder.Eventf(cj, "", events.Normal, "SuccessfulDelete", "Deleted job %s", j.Name)
		}
	}
	return nil
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, st batchv1.CronJobStatus) error {
	return controller.UpdateStatus(ctx, c.CronJobs, cj.Namespace, cj.Name, cj.UID, func(o *batchv1.CronJob) { o.Status = st })
}
