package job

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/events"
)

// Reasons and messages of the Job conditions.
const (
	reasonCompletionsReached = "CompletionsReached"
	msgCompletionsReached    = "Reached expected number of succeeded pods"
	reasonBackoffLimit       = "BackoffLimitExceeded"
	msgBackoffLimit          = "Job has reached the specified backoff limit"
	reasonDeadline           = "DeadlineExceeded"
	msgDeadline              = "Job was active longer than specified deadline"
)

// maxPodsPerSync caps the creates and deletes of one sync.
const maxPodsPerSync = 500

// sync is syncJob; it returns when to look again (the active deadline, a
// back-off).
func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name := controller.SplitKey(key)
	obj, err := c.Jobs.Get(ctx, ns, name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	j := obj.(*batchv1.Job).DeepCopy()
	if m := j.Spec.ManagedBy; m != nil && *m != batchv1.JobControllerName {
		return 0, nil
	}
	pods, err := c.claimPods(ctx, j)
	if err != nil {
		return 0, err
	}
	if _, finished := finishTime(j); finished || j.DeletionTimestamp != nil {
		// Nothing more to count: the pods may go whenever.
		var errs []error
		for _, p := range pods {
			errs = append(errs, c.removeFinalizer(ctx, p))
		}
		return 0, errors.Join(errs...)
	}
	now := c.Now()
	s := &jobSync{c: c, j: j, pods: pods, now: now, status: *j.Status.DeepCopy()}
	if err := s.count(ctx); err != nil {
		return 0, err
	}
	requeue, err := s.decide(ctx)
	if err != nil {
		return 0, err
	}
	if !apiequality.Semantic.DeepEqual(s.status, j.Status) {
		if err := c.writeStatus(ctx, j, s.status); err != nil {
			return 0, err
		}
	}
	return requeue, nil
}

// claimPods is getPodsForJob: the Job's pods, after adopting the orphans
// its selector matches (with the tracking finalizer; a manualSelector
// Job's pods may be made by someone else) and releasing those it no
// longer matches.
func (c *Controller) claimPods(ctx context.Context, j *batchv1.Job) ([]*corev1.Pod, error) {
	all, err := controller.ListPods(ctx, c.Pods, j.Namespace)
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector)
	if err != nil || j.Spec.Selector == nil || sel.Empty() {
		// No selector to claim by (validation refuses that): the pods
		// it owns.
		var pods []*corev1.Pod
		for _, p := range all {
			if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == j.UID {
				pods = append(pods, p)
			}
		}
		return pods, nil
	}
	candidates := make([]metav1.Object, len(all))
	for i, p := range all {
		candidates[i] = p
	}
	claimer := &controller.Claimer{Store: c.Pods, Owner: j, Selector: sel, Deleting: j.DeletionTimestamp != nil,
		Ref: controller.NewControllerRef(j, "batch/v1", "Job"), Finalizers: []string{batchv1.JobTrackingFinalizer}}
	owned, err := claimer.Claim(ctx, candidates)
	pods := make([]*corev1.Pod, len(owned))
	for i, m := range owned {
		pods[i] = m.(*corev1.Pod)
	}
	return pods, err
}

// jobSync is one sync of one Job.
type jobSync struct {
	c      *Controller
	j      *batchv1.Job
	pods   []*corev1.Pod
	now    time.Time
	status batchv1.JobStatus
	// failJob is the message of a pod failure policy FailJob rule a
	// pod matched ("": none).
	failJob string
	// retryAfter asks to look again then (an index's back-off).
	retryAfter time.Duration
}

func (s *jobSync) metaNow() metav1.Time { return metav1.NewTime(s.now.Truncate(time.Second)) }

func indexed(j *batchv1.Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion
}

// podSucceeded and podFailed say how a pod ended; with
// podReplacementPolicy TerminatingOrFailed a terminating pod that did not
// succeed counts as failed.
func podSucceeded(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded }

func (s *jobSync) podFailed(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	r := s.j.Spec.PodReplacementPolicy
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && (r == nil || *r == batchv1.TerminatingOrFailed)
}

// count is trackJobStatusAndRemoveFinalizers: finished pods that still
// carry the tracking finalizer go into uncountedTerminatedPods (written
// first, so a crash counts none twice), lose the finalizer, then move into
// succeeded and failed; pods whose finalizer is already gone are counted
// from uncountedTerminatedPods.
func (s *jobSync) count(ctx context.Context) error {
	byUID := map[types.UID]*corev1.Pod{}
	for _, p := range s.pods {
		byUID[p.UID] = p
	}
	u := s.status.UncountedTerminatedPods
	if u == nil {
		u = &batchv1.UncountedTerminatedPods{}
	}
	var fresh []*corev1.Pod
	for _, p := range s.pods {
		if !hasTrackingFinalizer(p) {
			continue
		}
		if i, ok := podIndex(p); ok && indexed(s.j) && i >= int(*s.j.Spec.Completions) && (podSucceeded(p) || s.podFailed(p)) {
			// Beyond completions (an elastic Indexed Job scaled
			// down): neither a success nor a failure, as upstream.
			if err := s.c.removeFinalizer(ctx, p); err != nil {
				return err
			}
			continue
		}
		switch {
		case podSucceeded(p) && !slices.Contains(u.Succeeded, p.UID):
			u.Succeeded = append(u.Succeeded, p.UID)
			fresh = append(fresh, p)
		case !podSucceeded(p) && s.podFailed(p) && !slices.Contains(u.Failed, p.UID):
			if p.Status.Phase == corev1.PodFailed {
				switch action, msg := matchFailurePolicy(s.j.Spec.PodFailurePolicy, p); action {
				case batchv1.PodFailurePolicyActionIgnore:
					// Not a failure of the Job: the pod is
					// released uncounted (and replaced).
					if err := s.c.removeFinalizer(ctx, p); err != nil {
						return err
					}
					continue
				case batchv1.PodFailurePolicyActionFailJob:
					if s.failJob == "" {
						s.failJob = msg
					}
				case batchv1.PodFailurePolicyActionFailIndex:
					if i, ok := podIndex(p); ok {
						s.failIndex(i)
					}
				}
				if s.j.Spec.BackoffLimitPerIndex != nil {
					if i, ok := podIndex(p); ok && s.indexFailures(i) > int(*s.j.Spec.BackoffLimitPerIndex) {
						s.failIndex(i)
					}
				}
			}
			u.Failed = append(u.Failed, p.UID)
			fresh = append(fresh, p)
		}
	}
	if len(fresh) > 0 {
		s.status.UncountedTerminatedPods = u
		if err := s.c.writeStatus(ctx, s.j, s.status); err != nil {
			return err
		}
		s.j.Status = *s.status.DeepCopy()
		for _, p := range fresh {
			if err := s.c.removeFinalizer(ctx, p); err != nil {
				return err
			}
			delete(byUID, p.UID) // counted below
		}
	}
	counted := func(uids []types.UID, succeeded bool) []types.UID {
		var left []types.UID
		for _, uid := range uids {
			if p, ok := byUID[uid]; ok && hasTrackingFinalizer(p) {
				left = append(left, uid)
				continue
			}
			s.record(uid, succeeded)
		}
		return left
	}
	u.Succeeded, u.Failed = counted(u.Succeeded, true), counted(u.Failed, false)
	if len(u.Succeeded) == 0 && len(u.Failed) == 0 {
		s.status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	} else {
		s.status.UncountedTerminatedPods = u
	}
	if indexed(s.j) {
		s.trimIndexes()
		s.status.Succeeded = int32(len(parseIndexes(s.status.CompletedIndexes)))
	}
	return nil
}

// trimIndexes drops the completed and failed indexes at or beyond
// completions, which an elastic Indexed Job lowered (as upstream parses
// them bounded by completions).
func (s *jobSync) trimIndexes() {
	n := int(*s.j.Spec.Completions)
	within := func(idx []int) []int {
		return slices.DeleteFunc(idx, func(i int) bool { return i >= n })
	}
	s.status.CompletedIndexes = formatIndexes(within(parseIndexes(s.status.CompletedIndexes)))
	if s.status.FailedIndexes != nil {
		f := formatIndexes(within(s.failedIndexes()))
		s.status.FailedIndexes = &f
	}
}

// record counts one finished pod (by UID; the pod may be gone).
func (s *jobSync) record(uid types.UID, succeeded bool) {
	var p *corev1.Pod
	for _, x := range s.pods {
		if x.UID == uid {
			p = x
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	b := s.c.backoff[s.j.UID]
	if succeeded {
		if indexed(s.j) && p != nil {
			if i, ok := podIndex(p); ok {
				s.status.CompletedIndexes = formatIndexes(append(parseIndexes(s.status.CompletedIndexes), i))
			}
		} else {
			s.status.Succeeded++
		}
		b = backoffRecord{}
	} else {
		s.status.Failed++
		b.failures++
		b.lastFailure = s.now
		if p != nil {
			b.lastFailure = lastFinish(p, s.now)
		}
	}
	s.c.backoff[s.j.UID] = b
}

// lastFinish is when a pod's last container ended (now if unknown).
func lastFinish(p *corev1.Pod, now time.Time) time.Time {
	var t time.Time
	for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() {
		return now
	}
	return t
}

// decide sets the conditions, deletes or creates pods, and fills the
// counts of active, ready and terminating pods.
func (s *jobSync) decide(ctx context.Context) (time.Duration, error) {
	j := s.j
	var active, terminating []*corev1.Pod
	var ready int32
	for _, p := range s.pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		case p.DeletionTimestamp != nil:
			terminating = append(terminating, p)
		default:
			active = append(active, p)
			if controller.IsPodReady(p) {
				ready++
			}
		}
	}
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	if !suspended && s.status.StartTime == nil {
		t := s.metaNow()
		s.status.StartTime = &t
	}
	var requeue time.Duration
	interim := s.interimCondition()
	if interim == nil {
		switch {
		case s.failJob != "":
			interim = s.setCondition(batchv1.JobFailureTarget, reasonPodFailurePolicy, s.failJob)
		case s.status.Failed > *j.Spec.BackoffLimit || s.restartsExceeded(active):
			interim = s.setCondition(batchv1.JobFailureTarget, reasonBackoffLimit, msgBackoffLimit)
		case s.pastDeadline():
			interim = s.setCondition(batchv1.JobFailureTarget, reasonDeadline, msgDeadline)
		case s.j.Spec.BackoffLimitPerIndex != nil && s.j.Spec.MaxFailedIndexes != nil && len(s.failedIndexes()) > int(*s.j.Spec.MaxFailedIndexes):
			interim = s.setCondition(batchv1.JobFailureTarget, batchv1.JobReasonMaxFailedIndexesExceeded, "Job has exceeded the specified maximal number of failed indexes")
		case s.j.Spec.BackoffLimitPerIndex != nil && len(s.failedIndexes()) > 0 &&
			len(s.failedIndexes())+len(parseIndexes(s.status.CompletedIndexes)) >= int(*s.j.Spec.Completions):
			interim = s.setCondition(batchv1.JobFailureTarget, batchv1.JobReasonFailedIndexes, "Job has failed indexes")
		case s.successPolicyRule() >= 0:
			interim = s.setCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonSuccessPolicy, fmt.Sprintf("Matched rules at index %d", s.successPolicyRule()))
		case s.succeeded(len(active)):
			interim = s.setCondition(batchv1.JobSuccessCriteriaMet, reasonCompletionsReached, msgCompletionsReached)
		}
		if d := j.Spec.ActiveDeadlineSeconds; interim == nil && d != nil && s.status.StartTime != nil {
			requeue = s.status.StartTime.Add(time.Duration(*d) * time.Second).Sub(s.now)
		}
	}
	switch {
	case interim != nil:
		// Finishing: the pods still running go; once none is left and
		// all are counted, the terminal condition follows.
		if err := s.deletePods(ctx, active); err != nil {
			return 0, err
		}
		u := s.status.UncountedTerminatedPods
		if len(active) == 0 && len(terminating) == 0 && (u == nil || len(u.Succeeded)+len(u.Failed) == 0) {
			s.finish(interim)
		}
		active = nil
	case suspended:
		if err := s.deletePods(ctx, active); err != nil {
			return 0, err
		}
		active = nil
		if c := s.condition(batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionTrue {
			s.setConditionStatus(batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended")
			s.c.Recorder.Eventf(j, "", events.Normal, "Suspended", "Job suspended")
		}
		s.status.StartTime = nil
	default:
		if c := s.condition(batchv1.JobSuspended); c != nil && c.Status == corev1.ConditionTrue {
			s.setConditionStatus(batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed")
			s.c.Recorder.Eventf(j, "", events.Normal, "Resumed", "Job resumed")
			t := s.metaNow()
			s.status.StartTime = &t
		}
		wait, err := s.manage(ctx, active, terminating)
		if err != nil {
			return 0, err
		}
		if wait == 0 {
			wait = s.retryAfter
		}
		if wait > 0 && (requeue == 0 || wait < requeue) {
			requeue = wait
		}
	}
	if j.Spec.BackoffLimitPerIndex != nil && s.status.FailedIndexes == nil {
		empty := ""
		s.status.FailedIndexes = &empty
	}
	s.status.Active = int32(len(active))
	s.status.Ready = &ready
	n := int32(len(terminating))
	s.status.Terminating = &n
	if requeue < 0 {
		requeue = time.Millisecond
	}
	return requeue, nil
}

// restartsExceeded: with restartPolicy OnFailure, the active pods'
// container restarts reach backoffLimit (pastBackoffLimitOnFailure).
func (s *jobSync) restartsExceeded(active []*corev1.Pod) bool {
	if s.j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var n int32
	for _, p := range active {
		for _, cs := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			n += cs.RestartCount
		}
	}
	limit := *s.j.Spec.BackoffLimit
	if limit == 0 {
		return n > 0
	}
	return n >= limit
}

func (s *jobSync) pastDeadline() bool {
	d := s.j.Spec.ActiveDeadlineSeconds
	return d != nil && s.status.StartTime != nil && !s.now.Before(s.status.StartTime.Add(time.Duration(*d)*time.Second))
}

// succeeded: every completion reached (NonIndexed: succeeded reaches
// completions; a work queue: some pod succeeded and none is active;
// Indexed: every index succeeded).
func (s *jobSync) succeeded(active int) bool {
	j := s.j
	if indexed(j) {
		return j.Spec.Completions != nil && len(parseIndexes(s.status.CompletedIndexes)) >= int(*j.Spec.Completions)
	}
	if j.Spec.Completions == nil {
		return s.status.Succeeded > 0 && active == 0
	}
	return s.status.Succeeded >= *j.Spec.Completions
}

// manage creates or deletes pods towards the wanted number of active ones
// (manageJob), holding creations back while the pod-failure back-off
// lasts; it returns how long that is.
func (s *jobSync) manage(ctx context.Context, active, terminating []*corev1.Pod) (time.Duration, error) {
	j := s.j
	parallelism := *j.Spec.Parallelism
	var want int32
	switch {
	case indexed(j):
		want = min(parallelism, *j.Spec.Completions-int32(len(parseIndexes(s.status.CompletedIndexes)))-int32(len(s.failedIndexes())))
	case j.Spec.Completions == nil:
		want = parallelism
		if s.status.Succeeded > 0 {
			want = int32(len(active))
		}
	default:
		want = min(*j.Spec.Completions-s.status.Succeeded, parallelism)
	}
	want = max(want, 0)
	if indexed(j) {
		// Pods of indexes beyond completions (an elastic Indexed Job
		// scaled down) go first.
		var beyond []*corev1.Pod
		active = slices.DeleteFunc(slices.Clone(active), func(p *corev1.Pod) bool {
			i, ok := podIndex(p)
			if ok && i >= int(*j.Spec.Completions) {
				beyond = append(beyond, p)
				return true
			}
			return false
		})
		if len(beyond) > 0 {
			return 0, s.deletePods(ctx, beyond[:min(len(beyond), maxPodsPerSync)])
		}
	}
	diff := int(want) - len(active)
	if r := j.Spec.PodReplacementPolicy; r != nil && *r == batchv1.Failed {
		diff -= len(terminating)
	}
	if diff < 0 {
		victims := append([]*corev1.Pod(nil), active...)
		controller.SortForDeletion(victims, s.now)
		return 0, s.deletePods(ctx, victims[:min(-diff, maxPodsPerSync)])
	}
	if diff == 0 {
		return 0, nil
	}
	if wait := s.backoffLeft(); wait > 0 && j.Spec.BackoffLimitPerIndex == nil {
		return wait, nil
	}
	var indexes []int
	if indexed(j) {
		indexes = s.pendingIndexes(active, diff)
		if len(indexes) < diff && j.Spec.BackoffLimitPerIndex != nil {
			// Some indexes wait out their back-off: look again then.
			var soonest time.Duration
			for i := 0; i < int(*j.Spec.Completions); i++ {
				if left := s.indexBackoffLeft(i); left > 0 && (soonest == 0 || left < soonest) {
					soonest = left
				}
			}
			defer func() { s.retryAfter = soonest }()
		}
		diff = len(indexes)
	}
	diff = min(diff, maxPodsPerSync)
	var mu sync.Mutex
	next := 0
	_, err := controller.SlowStartBatch(diff, func() error {
		idx := -1
		if indexes != nil {
			mu.Lock()
			idx = indexes[next]
			next++
			mu.Unlock()
		}
		return s.createPod(ctx, idx)
	})
	return 0, err
}

// backoffLeft is how long creations still wait after the last failures:
// 10 s × 2^(n−1) after the last of n failures since the last success,
// capped at 10 minutes.
func (s *jobSync) backoffLeft() time.Duration {
	s.c.mu.Lock()
	b := s.c.backoff[s.j.UID]
	s.c.mu.Unlock()
	if b.failures == 0 {
		return 0
	}
	d := failureBackOff
	for i := 1; i < b.failures && d < maxFailureBackOff; i++ {
		d *= 2
	}
	d = min(d, maxFailureBackOff)
	return b.lastFailure.Add(d).Sub(s.now)
}

// pendingIndexes are the lowest indexes neither completed nor running,
// at most n.
func (s *jobSync) pendingIndexes(active []*corev1.Pod, n int) []int {
	taken := map[int]bool{}
	for _, i := range parseIndexes(s.status.CompletedIndexes) {
		taken[i] = true
	}
	for _, i := range s.failedIndexes() {
		taken[i] = true
	}
	for _, p := range active {
		if i, ok := podIndex(p); ok {
			taken[i] = true
		}
	}
	var out []int
	for i := 0; i < int(*s.j.Spec.Completions) && len(out) < n; i++ {
		if !taken[i] && s.indexBackoffLeft(i) <= 0 {
			out = append(out, i)
		}
	}
	return out
}

// failedIndexes are the indexes failed for good (backoffLimitPerIndex).
func (s *jobSync) failedIndexes() []int {
	if s.status.FailedIndexes == nil {
		return nil
	}
	return parseIndexes(*s.status.FailedIndexes)
}

// failIndex marks an index failed for good.
func (s *jobSync) failIndex(i int) {
	f := formatIndexes(append(s.failedIndexes(), i))
	s.status.FailedIndexes = &f
}

// indexFailures is how many pods of an index failed (the count upstream
// keeps in batch.kubernetes.io/job-index-failure-count).
func (s *jobSync) indexFailures(i int) int {
	n := 0
	for _, p := range s.pods {
		if j, ok := podIndex(p); ok && j == i && p.Status.Phase == corev1.PodFailed {
			n++
		}
	}
	return n
}

// indexBackoffLeft is how long an index's next pod waits with
// backoffLimitPerIndex: the pod-failure back-off per index.
func (s *jobSync) indexBackoffLeft(i int) time.Duration {
	if s.j.Spec.BackoffLimitPerIndex == nil {
		return 0
	}
	n := s.indexFailures(i)
	if n == 0 {
		return 0
	}
	var last time.Time
	for _, p := range s.pods {
		if j, ok := podIndex(p); ok && j == i && p.Status.Phase == corev1.PodFailed {
			if t := lastFinish(p, s.now); t.After(last) {
				last = t
			}
		}
	}
	d := failureBackOff
	for k := 1; k < n && d < maxFailureBackOff; k++ {
		d *= 2
	}
	return last.Add(min(d, maxFailureBackOff)).Sub(s.now)
}

// createPod creates one pod of the Job (index -1: NonIndexed).
func (s *jobSync) createPod(ctx context.Context, index int) error {
	j := s.j
	p, err := controller.PodFromTemplate(&j.Spec.Template, j, controller.NewControllerRef(j, "batch/v1", "Job"))
	if err != nil {
		return err
	}
	p.Finalizers = append(p.Finalizers, batchv1.JobTrackingFinalizer)
	if index >= 0 {
		i := strconv.Itoa(index)
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = i
		p.Labels[batchv1.JobCompletionIndexAnnotation] = i
		if j.Spec.BackoffLimitPerIndex != nil {
			p.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(s.indexFailures(index))
		}
		p.GenerateName = fmt.Sprintf("%s-%d-", j.Name, index)
		if len(p.GenerateName) > 58 {
			p.GenerateName = p.GenerateName[len(p.GenerateName)-58:]
		}
		if p.Spec.Hostname == "" {
			p.Spec.Hostname = fmt.Sprintf("%s-%d", j.Name, index)
		}
		addIndexEnv(p.Spec.InitContainers)
		addIndexEnv(p.Spec.Containers)
	}
	out, err := s.c.Pods.Create(ctx, j.Namespace, p, false)
	if err != nil {
		s.c.Recorder.Eventf(j, "", events.Warning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	s.c.Recorder.Eventf(j, "", events.Normal, "SuccessfulCreate", "Created pod: %s", out.(*corev1.Pod).Name)
	return nil
}

// addIndexEnv gives each container JOB_COMPLETION_INDEX from the pod's
// index label, unless it defines the variable itself.
func addIndexEnv(cs []corev1.Container) {
	for i := range cs {
		if slices.ContainsFunc(cs[i].Env, func(e corev1.EnvVar) bool { return e.Name == "JOB_COMPLETION_INDEX" }) {
			continue
		}
		cs[i].Env = append(cs[i].Env, corev1.EnvVar{Name: "JOB_COMPLETION_INDEX", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: fmt.Sprintf("metadata.labels['%s']", batchv1.JobCompletionIndexAnnotation)}}})
	}
}

func (s *jobSync) deletePods(ctx context.Context, pods []*corev1.Pod) error {
	var wg sync.WaitGroup
	errs := make([]error, len(pods))
	for i, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.c.Pods.Delete(ctx, p.Namespace, p.Name, nil, false)
			switch {
			case err == nil:
				s.c.Recorder.Eventf(s.j, "", events.Normal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
			case !apierrors.IsNotFound(err):
				s.c.Recorder.Eventf(s.j, "", events.Warning, "FailedDelete", "Error deleting: %v", err)
				errs[i] = err
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Conditions.

func (s *jobSync) condition(t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range s.status.Conditions {
		if s.status.Conditions[i].Type == t {
			return &s.status.Conditions[i]
		}
	}
	return nil
}

// interimCondition is the SuccessCriteriaMet or FailureTarget condition a
// finishing Job has (nil: none).
func (s *jobSync) interimCondition() *batchv1.JobCondition {
	for _, t := range []batchv1.JobConditionType{batchv1.JobFailureTarget, batchv1.JobSuccessCriteriaMet} {
		if c := s.condition(t); c != nil && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func (s *jobSync) setCondition(t batchv1.JobConditionType, reason, message string) *batchv1.JobCondition {
	s.setConditionStatus(t, corev1.ConditionTrue, reason, message)
	return s.condition(t)
}

func (s *jobSync) setConditionStatus(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) {
	now := s.metaNow()
	if c := s.condition(t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, now
		return
	}
	s.status.Conditions = append(s.status.Conditions, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastProbeTime: now, LastTransitionTime: now})
}

// finish adds the terminal condition after the interim one: Complete
// (with completionTime) or Failed, with the same reason and message.
func (s *jobSync) finish(interim *batchv1.JobCondition) {
	reason, message := interim.Reason, interim.Message
	if interim.Type == batchv1.JobSuccessCriteriaMet {
		s.setCondition(batchv1.JobComplete, reason, message)
		t := s.metaNow()
		s.status.CompletionTime = &t
		s.c.Recorder.Eventf(s.j, "", events.Normal, "Completed", "Job completed")
		return
	}
	s.setCondition(batchv1.JobFailed, reason, message)
	s.c.Recorder.Eventf(s.j, "", events.Warning, reason, "%s", message)
}

// writeStatus stores st as the Job's status.
func (c *Controller) writeStatus(ctx context.Context, j *batchv1.Job, st batchv1.JobStatus) error {
	return controller.UpdateStatus(ctx, c.Jobs, j.Namespace, j.Name, j.UID, func(o *batchv1.Job) { o.Status = *st.DeepCopy() })
}

// Completion indexes.

func podIndex(p *corev1.Pod) (int, bool) {
	v, ok := p.Annotations[batchv1.JobCompletionIndexAnnotation]
	if !ok {
		v, ok = p.Labels[batchv1.JobCompletionIndexAnnotation]
	}
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(v)
	return i, err == nil && i >= 0
}

// parseIndexes reads "0-2,4" as 0, 1, 2, 4.
func parseIndexes(s string) []int {
	var out []int
	for _, part := range splitNonEmpty(s) {
		lo, hi, isRange := cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b; i++ {
			out = append(out, i)
		}
	}
	return out
}

// formatIndexes writes indexes as sorted intervals ("0-2,4").
func formatIndexes(idx []int) string {
	sort.Ints(idx)
	idx = slices.Compact(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(idx[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		}
		i = j + 1
	}
	return joinComma(parts)
}

func splitNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func cut(s, sep string) (string, string, bool) { return strings.Cut(s, sep) }

func joinComma(parts []string) string { return strings.Join(parts, ",") }

// successPolicyRule is the index of the first successPolicy rule the
// completed indexes meet (-1: none, or no policy): succeededIndexes all
// done, or succeededCount of them (of all indexes without a list).
func (s *jobSync) successPolicyRule() int {
	sp := s.j.Spec.SuccessPolicy
	if sp == nil {
		return -1
	}
	done := map[int]bool{}
	for _, i := range parseIndexes(s.status.CompletedIndexes) {
		done[i] = true
	}
	for i, r := range sp.Rules {
		var matched, need int
		if r.SucceededIndexes != nil {
			named := parseIndexes(*r.SucceededIndexes)
			need = len(named)
			for _, x := range named {
				if done[x] {
					matched++
				}
			}
		} else {
			matched = len(done)
		}
		if r.SucceededCount != nil {
			need = int(*r.SucceededCount)
		}
		if need > 0 && matched >= need {
			return i
		}
	}
	return -1
}
