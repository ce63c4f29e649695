package printers

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TestPrintWorkloads: each workload kind's cells, wide ones included, as
// upstream's printers give them (WORKLOADS.md §1.7), and a cell per
// column.
func TestPrintWorkloads(t *testing.T) {
	now := time.Now()
	created := metav1.NewTime(now.Add(-90 * time.Second))
	i32 := func(v int32) *int32 { return &v }
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "web", Image: "nginx:1"}, {Name: "log", Image: "busybox"}}}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "front"}}
	started := metav1.NewTime(now.Add(-80 * time.Second))
	finished := metav1.NewTime(now.Add(-20 * time.Second))
	zone, no := "Europe/Paris", false
	for _, tc := range []struct {
		name    string
		print   func(runtime.Object, time.Time) ([]interface{}, []metav1.TableRowCondition)
		columns []metav1.TableColumnDefinition
		obj     runtime.Object
		want    []interface{}
	}{
		{"deployment", printDeployment, deploymentColumns, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec:   appsv1.DeploymentSpec{Replicas: i32(3), Selector: sel, Template: tmpl},
			Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
			[]interface{}{"web", "2/3", int64(3), int64(2), "90s", "web,log", "nginx:1,busybox", "app=web,tier=front"}},
		{"replicaset", printReplicaSet, replicaSetColumns, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f", CreationTimestamp: created},
			Spec:   appsv1.ReplicaSetSpec{Replicas: i32(3), Selector: sel, Template: tmpl},
			Status: appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}},
			[]interface{}{"web-5d4f", int64(3), int64(3), int64(1), "90s", "web,log", "nginx:1,busybox", "app=web,tier=front"}},
		{"job running", printJob, jobColumns, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", CreationTimestamp: created},
			Spec:   batchv1.JobSpec{Completions: i32(5), Parallelism: i32(2), Selector: sel, Template: tmpl},
			Status: batchv1.JobStatus{Succeeded: 2, StartTime: &started}},
			[]interface{}{"pi", "Running", "2/5", "80s", "90s", "web,log", "nginx:1,busybox", "app=web,tier=front"}},
		{"job complete", printJob, jobColumns, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", CreationTimestamp: created},
			Spec: batchv1.JobSpec{Completions: i32(1), Template: tmpl},
			Status: batchv1.JobStatus{Succeeded: 1, StartTime: &started, CompletionTime: &finished,
				Conditions: []batchv1.JobCondition{{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue}, {Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
			[]interface{}{"pi", "Complete", "1/1", "60s", "90s", "web,log", "nginx:1,busybox", "<none>"}},
		{"work queue", printJob, jobColumns, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "q", CreationTimestamp: created},
			Spec: batchv1.JobSpec{Parallelism: i32(3), Template: tmpl}},
			[]interface{}{"q", "Running", "0/1 of 3", "", "90s", "web,log", "nginx:1,busybox", "<none>"}},
		{"cronjob", printCronJob, cronJobColumns, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick", CreationTimestamp: created},
			Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: &zone, Suspend: &no,
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}},
			Status: batchv1.CronJobStatus{Active: []corev1.ObjectReference{{Name: "tick-1"}}, LastScheduleTime: &finished}},
			[]interface{}{"tick", "*/5 * * * *", "Europe/Paris", "False", int64(1), "20s", "90s", "web,log", "nginx:1,busybox", "<none>"}},
		{"daemonset", printDaemonSet, daemonSetColumns, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", CreationTimestamp: created},
			Spec: appsv1.DaemonSetSpec{Selector: sel, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/os": "linux", "disk": "ssd"}, Containers: tmpl.Spec.Containers}}},
			Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 1, CurrentNumberScheduled: 1, NumberReady: 1, UpdatedNumberScheduled: 1, NumberAvailable: 1}},
			[]interface{}{"agent", int64(1), int64(1), int64(1), int64(1), int64(1), "disk=ssd,kubernetes.io/os=linux", "90s", "web,log", "nginx:1,busybox", "app=web,tier=front"}},
		{"statefulset", printStatefulSet, statefulSetColumns, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", CreationTimestamp: created},
			Spec: appsv1.StatefulSetSpec{Replicas: i32(2), Template: tmpl}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 1}},
			[]interface{}{"db", "1/2", "90s", "web,log", "nginx:1,busybox"}},
		{"controllerrevision", printControllerRevision, controllerRevisionColumns, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "agent-7b9", CreationTimestamp: created,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", Controller: func() *bool { b := true; return &b }()}}}, Revision: 2},
			[]interface{}{"agent-7b9", "daemonset.apps/agent", int64(2), "90s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cells, _ := tc.print(tc.obj, now)
			if len(cells) != len(tc.columns) {
				t.Errorf("%d cells for %d columns", len(cells), len(tc.columns))
			}
			if fmt.Sprint(cells) != fmt.Sprint(tc.want) {
				t.Errorf("cells %q,\nwant  %q", cells, tc.want)
			}
			for i := range min(len(cells), len(tc.want)) {
				if fmt.Sprintf("%T", cells[i]) != fmt.Sprintf("%T", tc.want[i]) {
					t.Errorf("cell %d (%s) is a %T, want %T", i, tc.columns[i].Name, cells[i], tc.want[i])
				}
			}
		})
	}
}
