package workload_test

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/cronjob"
	"github.com/peapod/peapod/internal/registry/daemonset"
	"github.com/peapod/peapod/internal/registry/deployment"
	"github.com/peapod/peapod/internal/registry/job"
	"github.com/peapod/peapod/internal/registry/replicaset"
	"github.com/peapod/peapod/internal/registry/statefulset"
)

func template(labels map[string]string, restart corev1.RestartPolicy) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{RestartPolicy: restart, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

var web = map[string]string{"app": "web"}

// TestValidation checks the workload kinds' defaults and upstream's
// validation messages (WORKLOADS.md §1.8, §1.9).
func TestValidation(t *testing.T) {
	sel := &metav1.LabelSelector{MatchLabels: web}
	zero, one := intstr.FromInt32(0), intstr.FromInt32(1)
	three := int32(3)
	for _, tc := range []struct {
		name string
		res  *registry.Resource
		obj  runtime.Object
		want string // "" for valid
	}{
		{"deployment", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: template(web, "")}}, ""},
		{"deployment without selector", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Template: template(web, "")}}, "spec.selector: Required value"},
		{"deployment, empty selector", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{}, Template: template(web, "")}}, "spec.selector: Invalid value: {}: empty selector is invalid for deployment"},
		{"deployment, labels not selected", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: template(map[string]string{"app": "x"}, "")}},
			"spec.template.metadata.labels: Invalid value: {\"app\":\"x\"}: `selector` does not match template `labels`"},
		{"deployment, restartPolicy Never", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: template(web, corev1.RestartPolicyNever)}},
			`spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"`},
		{"deployment, surge and unavailable 0", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: template(web, ""), Strategy: appsv1.DeploymentStrategy{
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &zero, MaxUnavailable: &zero}}}},
			"spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0"},
		{"deployment, recreate with rollingUpdate", deployment.Resource(), &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DeploymentSpec{Selector: sel, Template: template(web, ""), Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RecreateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one}}}},
			"spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"},
		{"replicaset, negative replicas", replicaset.Resource(), &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(-1)), Selector: sel, Template: template(web, "")}},
			"spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
		{"daemonset, surge and unavailable", daemonset.Resource(), &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.DaemonSetSpec{Selector: sel, Template: template(web, ""), UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one}}}},
			"spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero"},
		{"statefulset", statefulset.Resource(), &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: appsv1.StatefulSetSpec{Replicas: &three, Selector: sel, Template: template(web, "")}}, ""},
		{"statefulset, name not a label", statefulset.Resource(), &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "web.example"},
			Spec: appsv1.StatefulSetSpec{Selector: sel, Template: template(web, "")}}, "metadata.name: Invalid value: \"web.example\""},
		{"job", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyNever)}}, ""},
		{"job, restartPolicy Always", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyAlways)}}, `spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`},
		{"job, own selector", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{Selector: sel, Template: template(web, corev1.RestartPolicyNever)}}, "spec.selector: Invalid value: {\"matchLabels\":{\"app\":\"web\"}}: `selector` not auto-generated"},
		{"indexed job without completions", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{Parallelism: ptr(int32(2)), CompletionMode: ptr(batchv1.IndexedCompletion), Template: template(nil, corev1.RestartPolicyNever)}},
			"spec.completions: Required value: when completion mode is Indexed"},
		{"successPolicy on a NonIndexed job", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{SuccessPolicy: &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: ptr(int32(1))}}},
				Template: template(nil, corev1.RestartPolicyNever)}}, "spec.successPolicy: Invalid value: requires indexed completion mode"},
		{"successPolicy, index out of range", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{Completions: ptr(int32(3)), CompletionMode: ptr(batchv1.IndexedCompletion),
				SuccessPolicy: &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: ptr("0,5")}}},
				Template:      template(nil, corev1.RestartPolicyNever)}}, "spec.successPolicy.rules[0].succeededIndexes: Invalid value: \"0,5\": too large: 5"},
		{"podFailurePolicy, both requirements", job.Resource(), &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"},
			Spec: batchv1.JobSpec{PodFailurePolicy: &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionIgnore,
				OnExitCodes:     &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
				OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget}}}}},
				Template: template(nil, corev1.RestartPolicyNever)}}, "specifying both OnExitCodes and OnPodConditions is not supported"},
		{"cronjob", cronjob.Resource(), &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick"},
			Spec: batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyOnFailure)}}}}, ""},
		{"cronjob, bad schedule", cronjob.Resource(), &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick"},
			Spec: batchv1.CronJobSpec{Schedule: "61 * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyNever)}}}},
			`spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`},
		{"cronjob, long name", cronjob.Resource(), &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 53)},
			Spec: batchv1.CronJobSpec{Schedule: "* * * * *", JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyNever)}}}},
			"must be no more than 52 characters"},
		{"cronjob, unknown zone", cronjob.Resource(), &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "tick"},
			Spec: batchv1.CronJobSpec{Schedule: "* * * * *", TimeZone: ptr("Mars/Olympus"), JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyNever)}}}},
			`spec.timeZone: Invalid value: "Mars/Olympus"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			obj := tc.obj.DeepCopyObject()
			obj.(metav1.Object).SetNamespace("default")
			tc.res.Strategy.PrepareForCreate(ctx, obj)
			if c, ok := tc.res.Strategy.(registry.CanonicalizeStrategy); ok {
				c.Canonicalize(obj)
			}
			errs := tc.res.Strategy.Validate(ctx, obj)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("unexpected: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("got %v, want %s", errs.ToAggregate(), tc.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template(web, "")}}
	deployment.SetDefaults(d)
	if *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" ||
		*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 || d.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways ||
		*d.Spec.Template.Spec.TerminationGracePeriodSeconds != 30 || d.Spec.Template.Spec.SchedulerName != "default-scheduler" {
		t.Errorf("deployment defaults: %+v", d.Spec)
	}
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}, Spec: batchv1.JobSpec{Template: template(nil, corev1.RestartPolicyNever)}}
	job.Strategy{}.PrepareForCreate(context.Background(), j)
	job.Strategy{}.Canonicalize(j)
	if *j.Spec.Completions != 1 || *j.Spec.Parallelism != 1 || *j.Spec.BackoffLimit != 6 || *j.Spec.CompletionMode != batchv1.NonIndexedCompletion ||
		j.Spec.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != "u1" || j.Spec.Template.Labels["job-name"] != "pi" || j.Spec.Template.Labels["controller-uid"] != "u1" {
		t.Errorf("job defaults: %+v", j.Spec)
	}
	s := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: template(web, "")}}
	statefulset.SetDefaults(s)
	if s.Spec.PodManagementPolicy != appsv1.OrderedReadyPodManagement || *s.Spec.UpdateStrategy.RollingUpdate.Partition != 0 ||
		s.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("statefulset defaults: %+v", s.Spec)
	}
}

func ptr[T any](v T) *T { return &v }

// TestSelectorImmutable: an update that changes the selector of a
// Deployment, ReplicaSet, DaemonSet or Job is refused with upstream's
// "field is immutable", a StatefulSet's with its "updates to statefulset
// spec" (WORKLOADS.md §1.9), and the same update keeping the selector
// passes.
func TestSelectorImmutable(t *testing.T) {
	sel := func() *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	}
	yes := true
	for _, tc := range []struct {
		name string
		res  *registry.Resource
		obj  runtime.Object
		sel  func(runtime.Object) *metav1.LabelSelector
		want string // "" for upstream's spec.selector ... field is immutable
	}{
		{"deployment", deployment.Resource(), &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Selector: sel(), Template: template(web, "")}},
			func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector }, ""},
		{"replicaset", replicaset.Resource(), &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: sel(), Template: template(web, "")}},
			func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.ReplicaSet).Spec.Selector }, ""},
		{"daemonset", daemonset.Resource(), &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: sel(), Template: template(web, "")}},
			func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.DaemonSet).Spec.Selector }, ""},
		{"statefulset", statefulset.Resource(), &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Selector: sel(), Template: template(web, "")}},
			func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector },
			"spec: Forbidden: updates to statefulset spec for fields other than"},
		{"job", job.Resource(), &batchv1.Job{Spec: batchv1.JobSpec{ManualSelector: &yes, Selector: sel(), Template: template(web, corev1.RestartPolicyNever)}},
			func(o runtime.Object) *metav1.LabelSelector { return o.(*batchv1.Job).Spec.Selector }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			old := tc.obj.DeepCopyObject()
			m := old.(metav1.Object)
			m.SetName("web")
			m.SetNamespace("default")
			m.SetUID("u1")
			m.SetResourceVersion("1")
			tc.res.Strategy.PrepareForCreate(ctx, old)
			if c, ok := tc.res.Strategy.(registry.CanonicalizeStrategy); ok {
				c.Canonicalize(old)
			}
			if errs := tc.res.Strategy.Validate(ctx, old); len(errs) > 0 {
				t.Fatalf("the object itself: %v", errs.ToAggregate())
			}
			same := old.DeepCopyObject()
			tc.res.Strategy.PrepareForUpdate(ctx, same, old)
			if errs := tc.res.Strategy.ValidateUpdate(ctx, same, old); len(errs) > 0 {
				t.Errorf("an update keeping the selector: %v", errs.ToAggregate())
			}
			changed := old.DeepCopyObject()
			// A wider selector that still matches the template's labels.
			tc.sel(changed).MatchLabels = map[string]string{}
			tc.sel(changed).MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "app", Operator: metav1.LabelSelectorOpExists}}
			tc.res.Strategy.PrepareForUpdate(ctx, changed, old)
			errs := tc.res.Strategy.ValidateUpdate(ctx, changed, old)
			switch {
			case tc.want != "":
				if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want) {
					t.Errorf("a changed selector: %v, want %q", errs.ToAggregate(), tc.want)
				}
			case len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), "spec.selector: Invalid value") || !strings.Contains(errs.ToAggregate().Error(), "field is immutable"):
				t.Errorf("a changed selector: %v, want spec.selector ... field is immutable", errs.ToAggregate())
			}
		})
	}
}
