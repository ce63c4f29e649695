package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestJobs runs Jobs with kubectl 1.27 and 1.33: completions 5 and
// parallelism 2 where one pod fails once (never more than 2 active, ends
// Complete 5/5 with 1 failed), a Job over its backoffLimit (Failed,
// BackoffLimitExceeded), an Indexed Job whose pods see
// JOB_COMPLETION_INDEX, ttlSecondsAfterFinished removing a Job and its
// pods, kubectl create job and logs job/x, and the default orphan
// propagation (its warning is checked by TestWorkloadsProtobuf).
func TestJobs(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	fps := newFootprints(d, t)
	stopWatch := fps.watch("default")

	out := d.mustKubectl("1.27", "", "create", "job", "hello", "--image=busybox", "--", "sh", "-c", "echo hello from the job")
	if !strings.Contains(out, "job.batch/hello created") {
		t.Errorf("kubectl create job: %q", out)
	}
	d.waitJob(t, "hello", batchv1.JobComplete)
	if logs := d.mustKubectl("1.33", "", "logs", "job/hello"); logs != "hello from the job\n" {
		t.Errorf("kubectl logs job/hello: %q", logs)
	}
	row := strings.Fields(d.mustKubectl("1.33", "", "get", "job", "hello", "--no-headers"))
	if len(row) < 3 || row[1] != "Complete" || row[2] != "1/1" {
		t.Errorf("kubectl get job hello: %v", row)
	}

	// The first pod to finish fails (mkdir on a hostPath volume is the
	// atomic "first"); every other succeeds.
	marker := t.TempDir()
	var mu sync.Mutex
	maxActive := 0
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=work"})
			if err != nil {
				continue
			}
			n := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodPending || p.Status.Phase == corev1.PodRunning) {
					n++
				}
			}
			mu.Lock()
			maxActive = max(maxActive, n)
			mu.Unlock()
		}
	}()
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: work}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      volumes: [{name: m, hostPath: {path: `+marker+`}}]
      containers:
      - name: w
        image: busybox
        imagePullPolicy: IfNotPresent
        volumeMounts: [{name: m, mountPath: /m}]
        command: [sh, -c, 'sleep 1; if mkdir /m/failed 2>/dev/null; then exit 1; fi']
`, "apply", "-f", "-")
	j := d.waitJob(t, "work", batchv1.JobComplete)
	close(done)
	<-sampled
	if j.Status.Succeeded != 5 || j.Status.Failed != 1 {
		t.Errorf("work: succeeded %d failed %d, want 5 and 1", j.Status.Succeeded, j.Status.Failed)
	}
	mu.Lock()
	if maxActive > 2 {
		t.Errorf("%d pods were active at once, parallelism is 2", maxActive)
	}
	mu.Unlock()
	if row := strings.Fields(d.mustKubectl("1.27", "", "get", "job", "work", "--no-headers")); len(row) < 3 || row[1] != "Complete" || row[2] != "5/5" {
		t.Errorf("kubectl get job work: %v", row)
	}
	if !hasCondition(j, batchv1.JobSuccessCriteriaMet, "CompletionsReached") || j.Status.CompletionTime == nil {
		t.Errorf("work conditions: %+v", j.Status.Conditions)
	}

	// Over the backoff limit: Failed, BackoffLimitExceeded.
	d.mustKubectl("1.27", `apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: f, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, "exit 3"]}]
`, "apply", "-f", "-")
	j = d.waitJob(t, "fails", batchv1.JobFailed)
	if !hasCondition(j, batchv1.JobFailed, "BackoffLimitExceeded") || !hasCondition(j, batchv1.JobFailureTarget, "BackoffLimitExceeded") || j.Status.Failed != 2 {
		t.Errorf("fails: failed %d, conditions %+v", j.Status.Failed, j.Status.Conditions)
	}
	if row := strings.Fields(d.mustKubectl("1.33", "", "get", "job", "fails", "--no-headers")); len(row) < 2 || row[1] != "Failed" {
		t.Errorf("kubectl get job fails: %v", row)
	}
	events := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=fails,reason=BackoffLimitExceeded", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "Job has reached the specified backoff limit") {
		t.Errorf("BackoffLimitExceeded event: %q", events)
	}

	// podFailurePolicy: exit code 3 is ignored (the pod is replaced, not
	// counted), exit code 42 fails the Job at once.
	marker2 := t.TempDir()
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: policy}
spec:
  backoffLimit: 0
  podFailurePolicy:
    rules:
    - {action: Ignore, onExitCodes: {operator: In, values: [3]}}
    - {action: FailJob, onExitCodes: {containerName: p, operator: In, values: [42]}}
  template:
    spec:
      restartPolicy: Never
      volumes: [{name: m, hostPath: {path: `+marker2+`}}]
      containers:
      - {name: p, image: busybox, imagePullPolicy: IfNotPresent, volumeMounts: [{name: m, mountPath: /m}],
         command: [sh, -c, 'if mkdir /m/once 2>/dev/null; then exit 3; fi; exit 42']}
`, "apply", "-f", "-")
	j = d.waitJob(t, "policy", batchv1.JobFailed)
	if !hasCondition(j, batchv1.JobFailed, "PodFailurePolicy") || j.Status.Failed != 1 {
		t.Errorf("policy: failed %d, conditions %+v", j.Status.Failed, j.Status.Conditions)
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && !strings.Contains(c.Message, "failed with exit code 42 matching FailJob rule at index 1") {
			t.Errorf("Failed message %q", c.Message)
		}
	}
	_, errOut, err := d.kubectl("1.27", `apiVersion: batch/v1
kind: Job
metadata: {name: badpolicy}
spec:
  podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {operator: In, values: [0]}}]}
  template:
    spec:
      restartPolicy: OnFailure
      containers: [{name: p, image: busybox}]
`, "apply", "-f", "-")
	for _, want := range []string{`spec.template.spec.restartPolicy: Invalid value: "OnFailure": only "Never" is supported when podFailurePolicy is specified`,
		"spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: must not be 0 for the In operator"} {
		if err == nil || !strings.Contains(errOut, want) {
			t.Errorf("bad podFailurePolicy: %v, want %q in %q", err, want, errOut)
		}
	}

	// Indexed: each pod sees its index.
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: idx}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: i, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX host=$(hostname)']}]
`, "apply", "-f", "-")
	j = d.waitJob(t, "idx", batchv1.JobComplete)
	if j.Status.CompletedIndexes != "0-2" {
		t.Errorf("completedIndexes %q, want 0-2", j.Status.CompletedIndexes)
	}
	pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=idx"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range pods.Items {
		i := p.Labels["batch.kubernetes.io/job-completion-index"]
		logs := d.mustKubectl("1.27", "", "logs", p.Name)
		if want := "index=" + i + " host=idx-" + i + "\n"; logs != want {
			t.Errorf("pod %s logs %q, want %q", p.Name, logs, want)
		}
		seen[i] = true
	}
	if len(seen) != 3 {
		t.Errorf("indexes seen: %v", seen)
	}

	// successPolicy: index 0 succeeding is enough; the other pods go.
	d.mustKubectl("1.27", `apiVersion: batch/v1
kind: Job
metadata: {name: leader}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  successPolicy: {rules: [{succeededIndexes: "0"}]}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: l, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'if [ "$JOB_COMPLETION_INDEX" = 0 ]; then exit 0; fi; sleep 300']}]
`, "apply", "-f", "-")
	j = d.waitJob(t, "leader", batchv1.JobComplete)
	if !hasCondition(j, batchv1.JobSuccessCriteriaMet, "SuccessPolicy") || !hasCondition(j, batchv1.JobComplete, "SuccessPolicy") || j.Status.CompletedIndexes != "0" {
		t.Errorf("leader: completed %q, conditions %+v", j.Status.CompletedIndexes, j.Status.Conditions)
	}
	if pods := d.podsOf(t, "batch.kubernetes.io/job-name=leader"); len(pods) != 1 {
		t.Errorf("leader's other pods were not removed: %v", names(pods))
	}

	// backoffLimitPerIndex: index 1 fails twice (one retry allowed) and
	// is failed for good; the others complete; the Job fails with
	// FailedIndexes.
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: perindex}
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  backoffLimitPerIndex: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: x, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'test "$JOB_COMPLETION_INDEX" != 1']}]
`, "apply", "-f", "-")
	j = d.waitJob(t, "perindex", batchv1.JobFailed)
	if !hasCondition(j, batchv1.JobFailed, "FailedIndexes") || j.Status.FailedIndexes == nil || *j.Status.FailedIndexes != "1" ||
		j.Status.CompletedIndexes != "0,2" || j.Status.Failed != 2 {
		t.Errorf("perindex: failed %d, failedIndexes %v, completed %q, conditions %+v", j.Status.Failed, j.Status.FailedIndexes, j.Status.CompletedIndexes, j.Status.Conditions)
	}

	// ttlSecondsAfterFinished removes the Job and its pods.
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: brief}
spec:
  ttlSecondsAfterFinished: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: b, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"]}]
`, "apply", "-f", "-")
	d.waitFor("the finished job to be removed", 60*time.Second, func() (bool, error) {
		_, err := d.client.BatchV1().Jobs("default").Get(ctx, "brief", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=brief"})
		return err == nil && len(pods.Items) == 0, err
	})

	// Deleting a Job keeps its pods by default, and says so.
	_, errOut, err = d.kubectl("1.33", "", "delete", "job", "hello", "--cascade=orphan")
	if err != nil {
		t.Fatalf("delete job: %v %s", err, errOut)
	}
	d.waitFor("hello's pod to lose its owner and finalizer", 30*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=hello"})
		if err != nil || len(pods.Items) != 1 {
			return false, err
		}
		p := pods.Items[0]
		return len(p.OwnerReferences) == 0 && len(p.Finalizers) == 0, nil
	})
	req := d.client.BatchV1().RESTClient().Delete().Namespace("default").Resource("jobs").Name("work").Do(ctx)
	if err := req.Error(); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.27", "1.33"} {
		_, _, err := d.kubectl(v, "", "delete", "job", "idx", "fails", "policy", "leader", "perindex", "--ignore-not-found")
		if err != nil {
			t.Errorf("kubectl %s delete job: %v", v, err)
		}
	}
	d.mustKubectl("1.33", "", "delete", "pods", "--all", "--grace-period=1")
	d.waitFor("every pod to go", 60*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
	stopWatch()
	fps.check()
	fps.checkEmpty()
}

// waitJob waits for a Job's condition and returns the Job.
func (d *daemon) waitJob(t *testing.T, name string, cond batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	d.waitFor("job "+name+" "+string(cond), 120*time.Second, func() (bool, error) {
		got, err := d.client.BatchV1().Jobs("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		j = got
		for _, c := range got.Status.Conditions {
			if c.Type == cond && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	return j
}

func hasCondition(j *batchv1.Job, t batchv1.JobConditionType, reason string) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue && c.Reason == reason {
			return true
		}
	}
	return false
}

// TestCronJob: a CronJob every minute creates a Job named after its
// scheduled minute, with concurrencyPolicy Forbid skips while that one
// runs, and kubectl create job --from=cronjob/x makes a Job from its
// template; a bad schedule is refused.
func TestCronJob(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	fps := newFootprints(d, t)
	stopWatch := fps.watch("default")
	d.mustKubectl("1.33", "", "create", "cronjob", "tick", "--image=busybox", "--schedule=*/1 * * * *", "--", "sh", "-c", "trap 'exit 0' TERM; sleep 150 & wait")
	d.mustKubectl("1.27", "", "patch", "cronjob", "tick", "-p", `{"spec":{"concurrencyPolicy":"Forbid","jobTemplate":{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":1}}}}}}`)
	out := d.mustKubectl("1.27", "", "create", "job", "by-hand", "--from=cronjob/tick")
	if !strings.Contains(out, "job.batch/by-hand created") {
		t.Errorf("create job --from: %q", out)
	}
	hand, err := d.client.BatchV1().Jobs("default").Get(ctx, "by-hand", metav1.GetOptions{})
	if err != nil || hand.Annotations["cronjob.kubernetes.io/instantiate"] != "manual" || len(hand.OwnerReferences) != 1 || hand.OwnerReferences[0].Kind != "CronJob" {
		t.Errorf("by-hand: %v, %v", hand.GetObjectMeta(), err)
	}
	var scheduled *batchv1.Job
	d.waitFor("the first scheduled job", 90*time.Second, func() (bool, error) {
		jobs, err := d.client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range jobs.Items {
			if strings.HasPrefix(jobs.Items[i].Name, "tick-") {
				scheduled = &jobs.Items[i]
				return true, nil
			}
		}
		return false, nil
	})
	ts, err := time.Parse(time.RFC3339, scheduled.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"])
	if err != nil || scheduled.Name != fmt.Sprintf("tick-%d", ts.Unix()/60) || ts.Second() != 0 {
		t.Errorf("scheduled job %s at %q: %v", scheduled.Name, scheduled.Annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"], err)
	}
	d.waitFor("the next minute skipped (Forbid)", 90*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=tick,reason=JobAlreadyActive", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "Not starting job because prior execution is running and concurrency policy is Forbid"), err
	})
	jobs, err := d.client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs.Items {
		if strings.HasPrefix(j.Name, "tick-") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d scheduled jobs under Forbid, want 1", n)
	}
	if row := d.mustKubectl("1.33", "", "get", "cronjob", "tick", "--no-headers"); !regexp.MustCompile(`^tick\s+\*/1 \* \* \* \*\s+<none>\s+False\s+1\s+\d+s\s`).MatchString(row) {
		t.Errorf("kubectl get cronjob: %q", row)
	}
	_, errOut, err := d.kubectl("1.27", "", "create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *")
	if err == nil || !strings.Contains(errOut, `spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`) {
		t.Errorf("bad schedule: %v %q", err, errOut)
	}
	d.mustKubectl("1.33", "", "delete", "cronjob", "tick")
	d.waitFor("the cronjob's jobs and pods to go", 60*time.Second, func() (bool, error) {
		jobs, err := d.client.BatchV1().Jobs("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(jobs.Items) == 0 && len(pods.Items) == 0, err
	})
	stopWatch()
	fps.check()
	fps.checkEmpty()
}

// TestJobDeadlineAndSuspend: activeDeadlineSeconds ends a Job that runs
// too long (DeadlineExceeded, its pods stopped); a suspended Job runs no
// pod until resumed (Suspended, then JobResumed).
func TestJobDeadlineAndSuspend(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	fps := newFootprints(d, t)
	stopWatch := fps.watch("default")
	d.mustKubectl("1.33", `apiVersion: batch/v1
kind: Job
metadata: {name: slow}
spec:
  activeDeadlineSeconds: 3
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers: [{name: s, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "300"]}]
`, "apply", "-f", "-")
	j := d.waitJob(t, "slow", batchv1.JobFailed)
	if !hasCondition(j, batchv1.JobFailed, "DeadlineExceeded") || j.Status.Active != 0 {
		t.Errorf("slow: active %d, conditions %+v", j.Status.Active, j.Status.Conditions)
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Message != "Job was active longer than specified deadline" {
			t.Errorf("DeadlineExceeded message %q", c.Message)
		}
	}

	d.mustKubectl("1.27", `apiVersion: batch/v1
kind: Job
metadata: {name: later}
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers: [{name: l, image: busybox, imagePullPolicy: IfNotPresent, command: ["true"]}]
`, "apply", "-f", "-")
	j = d.waitJob(t, "later", batchv1.JobSuspended)
	if row := strings.Fields(d.mustKubectl("1.33", "", "get", "job", "later", "--no-headers")); len(row) < 2 || row[1] != "Suspended" {
		t.Errorf("kubectl get job later: %v", row)
	}
	if pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=later"}); err != nil || len(pods.Items) != 0 {
		t.Errorf("a suspended job has pods: %v", err)
	}
	if j.Status.StartTime != nil {
		t.Errorf("a suspended job has a start time")
	}
	d.mustKubectl("1.33", "", "patch", "job", "later", "-p", `{"spec":{"suspend":false}}`)
	j = d.waitJob(t, "later", batchv1.JobComplete)
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobSuspended && (c.Status != corev1.ConditionFalse || c.Reason != "JobResumed") {
			t.Errorf("Suspended condition after resume: %+v", c)
		}
	}
	d.mustKubectl("1.33", "", "delete", "jobs", "--all")
	d.waitFor("every pod to go", 60*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		return err == nil && len(pods.Items) == 0, err
	})
	stopWatch()
	fps.check()
	fps.checkEmpty()
}
