package printers

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Upstream's Deployment and ReplicaSet columns (printDeployment,
// printReplicaSet): wide adds the template's containers, images and the
// selector.

var (
	nameColumn          = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn           = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
	wideWorkloadColumns = []metav1.TableColumnDefinition{
		{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
		{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
		{Name: "Selector", Type: "string", Priority: 1, Description: "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."},
	}
)

var deploymentColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
	{Name: "Up-to-date", Type: "integer", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
	{Name: "Available", Type: "integer", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
	ageColumn,
}, wideWorkloadColumns...)

func printDeployment(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	d := obj.(*appsv1.Deployment)
	desired := int32(0)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	names, images := templateContainers(&d.Spec.Template)
	return []interface{}{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired), int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas), age(d.CreationTimestamp, now), names, images, selectorString(d.Spec.Selector)}, nil
}

var replicaSetColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Desired", Type: "integer", Description: appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]},
	{Name: "Current", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]},
	{Name: "Ready", Type: "integer", Description: appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]},
	ageColumn,
}, wideWorkloadColumns...)

func printReplicaSet(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	rs := obj.(*appsv1.ReplicaSet)
	desired := int32(0)
	if rs.Spec.Replicas != nil {
		desired = *rs.Spec.Replicas
	}
	names, images := templateContainers(&rs.Spec.Template)
	return []interface{}{rs.Name, int64(desired), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
		age(rs.CreationTimestamp, now), names, images, selectorString(rs.Spec.Selector)}, nil
}

// templateContainers are the comma-joined names and images of a template's
// containers (not its init containers).
func templateContainers(t *corev1.PodTemplateSpec) (string, string) {
	var names, images []string
	for _, c := range t.Spec.Containers {
		names, images = append(names, c.Name), append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

// selectorString is metav1.FormatLabelSelector, "<invalid>" when it cannot
// be parsed.
func selectorString(sel *metav1.LabelSelector) string {
	if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
		return "<invalid>"
	}
	return metav1.FormatLabelSelector(sel)
}

var jobColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Status", Type: "string", Description: "Status of the job."},
	{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
	{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
	ageColumn,
}, wideWorkloadColumns...)

// printJob is upstream's printJob: the first of Complete, Failed,
// Terminating, Suspended, FailureTarget, SuccessCriteriaMet, else Running;
// completions as succeeded/completions (or "/1 of <parallelism>" for a
// work queue); the duration so far, or until completion.
func printJob(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	j := obj.(*batchv1.Job)
	completions := fmt.Sprintf("%d/1", j.Status.Succeeded)
	switch {
	case j.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
	case j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
	}
	var dur string
	switch {
	case j.Status.StartTime == nil:
	case j.Status.CompletionTime == nil:
		dur = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
	default:
		dur = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
	}
	names, images := templateContainers(&j.Spec.Template)
	return []interface{}{j.Name, jobStatus(j), completions, dur, age(j.CreationTimestamp, now), names, images, selectorString(j.Spec.Selector)}, nil
}

func jobStatus(j *batchv1.Job) string {
	has := func(t batchv1.JobConditionType) bool {
		for _, c := range j.Status.Conditions {
			if c.Type == t && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	}
	switch {
	case has(batchv1.JobComplete):
		return "Complete"
	case has(batchv1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case has(batchv1.JobSuspended):
		return "Suspended"
	case has(batchv1.JobFailureTarget):
		return "FailureTarget"
	case has(batchv1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

var cronJobColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Schedule", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]},
	{Name: "Timezone", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]},
	{Name: "Suspend", Type: "boolean", Description: batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]},
	{Name: "Active", Type: "integer", Description: batchv1.CronJobStatus{}.SwaggerDoc()["active"]},
	{Name: "Last Schedule", Type: "string", Description: batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]},
	ageColumn,
}, wideWorkloadColumns...)

// printCronJob is upstream's printCronJob.
func printCronJob(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	cj := obj.(*batchv1.CronJob)
	tz := "<none>"
	if cj.Spec.TimeZone != nil {
		tz = *cj.Spec.TimeZone
	}
	suspend := "<unset>"
	if cj.Spec.Suspend != nil {
		suspend = fmt.Sprint(*cj.Spec.Suspend)
		suspend = strings.ToUpper(suspend[:1]) + suspend[1:]
	}
	last := "<none>"
	if cj.Status.LastScheduleTime != nil {
		last = duration.HumanDuration(now.Sub(cj.Status.LastScheduleTime.Time))
	}
	names, images := templateContainers(&cj.Spec.JobTemplate.Spec.Template)
	return []interface{}{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp, now),
		names, images, selectorString(cj.Spec.JobTemplate.Spec.Selector)}, nil
}

var daemonSetColumns = append([]metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Desired", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]},
	{Name: "Current", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]},
	{Name: "Ready", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]},
	{Name: "Up-to-date", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]},
	{Name: "Available", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]},
	{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
	ageColumn,
}, wideWorkloadColumns...)

func printDaemonSet(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	ds := obj.(*appsv1.DaemonSet)
	st := ds.Status
	names, images := templateContainers(&ds.Spec.Template)
	return []interface{}{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
		int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labelsString(ds.Spec.Template.Spec.NodeSelector),
		age(ds.CreationTimestamp, now), names, images, selectorString(ds.Spec.Selector)}, nil
}

// labelsString is k=v,... sorted, or <none>.
func labelsString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

var controllerRevisionColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Controller", Type: "string", Description: "Controller of the object"},
	{Name: "Revision", Type: "integer", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
	ageColumn,
}

func printControllerRevision(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	cr := obj.(*appsv1.ControllerRevision)
	controller := "<none>"
	if ref := metav1.GetControllerOf(cr); ref != nil {
		group := ""
		if i := strings.Index(ref.APIVersion, "/"); i > 0 {
			group = "." + ref.APIVersion[:i]
		}
		controller = strings.ToLower(ref.Kind) + group + "/" + ref.Name
	}
	return []interface{}{cr.Name, controller, cr.Revision, age(cr.CreationTimestamp, now)}, nil
}

var statefulSetColumns = []metav1.TableColumnDefinition{
	nameColumn,
	{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
	ageColumn,
	{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
	{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
}

func printStatefulSet(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	s := obj.(*appsv1.StatefulSet)
	desired := int32(0)
	if s.Spec.Replicas != nil {
		desired = *s.Spec.Replicas
	}
	names, images := templateContainers(&s.Spec.Template)
	return []interface{}{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, desired), age(s.CreationTimestamp, now), names, images}, nil
}
