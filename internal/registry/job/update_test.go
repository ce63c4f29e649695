package job

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestValidateUpdate: what ValidateJobSpecUpdate keeps immutable, and the
// scheduling directives a suspended Job that never started may change.
func TestValidateUpdate(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	str := func(v string) *string { return &v }
	yes, indexedMode := true, batchv1.IndexedCompletion
	base := func() *batchv1.Job {
		j := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "default", ResourceVersion: "1", UID: "u1"},
			Spec: batchv1.JobSpec{
				Parallelism: i32(2), Completions: i32(2),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}},
			},
		}
		Strategy{}.PrepareForCreate(context.Background(), j)
		Strategy{}.Canonicalize(j)
		return j
	}
	suspended := func(j *batchv1.Job) { j.Spec.Suspend = &yes }
	started := func(j *batchv1.Job) { j.Status.StartTime = &metav1.Time{} }
	indexed := func(j *batchv1.Job) { j.Spec.CompletionMode = &indexedMode }
	for _, tc := range []struct {
		name   string
		old    func(*batchv1.Job)
		change func(*batchv1.Job)
		want   string // "" = allowed
	}{
		{"parallelism", nil, func(j *batchv1.Job) { j.Spec.Parallelism = i32(5) }, ""},
		{"completions of a NonIndexed Job", nil, func(j *batchv1.Job) { j.Spec.Completions = i32(3) }, "spec.completions: Invalid value: 3: field is immutable"},
		{"completions of an Indexed Job with parallelism", indexed, func(j *batchv1.Job) { j.Spec.Completions, j.Spec.Parallelism = i32(4), i32(4) }, ""},
		{"completions of an Indexed Job alone", indexed, func(j *batchv1.Job) { j.Spec.Completions = i32(4) }, "spec.completions: Invalid value: 4: can only be modified in tandem with spec.parallelism"},
		{"image", nil, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "other" }, "spec.template: Invalid value:"},
		{"nodeSelector while running", nil, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"a": "b"} }, "spec.template: Invalid value:"},
		{"nodeSelector while suspended, never started", suspended, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"a": "b"} }, ""},
		{"tolerations, gates, labels, annotations while suspended", suspended, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}}
			j.Spec.Template.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "g"}}
			j.Spec.Template.Labels["extra"] = "x"
			j.Spec.Template.Annotations = map[string]string{"a": "b"}
		}, ""},
		{"node affinity while suspended", suspended, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "a", Operator: corev1.NodeSelectorOpExists}}}}}}}
		}, ""},
		{"pod affinity while suspended", suspended, func(j *batchv1.Job) {
			j.Spec.Template.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{}}
		}, "spec.template: Invalid value:"},
		{"nodeSelector while suspended after a start", func(j *batchv1.Job) { suspended(j); started(j) }, func(j *batchv1.Job) { j.Spec.Template.Spec.NodeSelector = map[string]string{"a": "b"} }, "spec.template: Invalid value:"},
		{"image while suspended", suspended, func(j *batchv1.Job) { j.Spec.Template.Spec.Containers[0].Image = "other" }, "spec.template: Invalid value:"},
		{"completionMode", nil, func(j *batchv1.Job) { j.Spec.CompletionMode = &indexedMode }, "spec.completionMode: Invalid value:"},
		{"podFailurePolicy", nil, func(j *batchv1.Job) {
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{{Action: batchv1.PodFailurePolicyActionFailJob,
				OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}}}}
		}, "spec.podFailurePolicy: Invalid value:"},
		{"backoffLimitPerIndex", indexed, func(j *batchv1.Job) { j.Spec.BackoffLimitPerIndex = i32(1) }, "spec.backoffLimitPerIndex: Invalid value: 1: field is immutable"},
		{"managedBy", nil, func(j *batchv1.Job) { j.Spec.ManagedBy = str("example.com/other") }, "spec.managedBy: Invalid value:"},
		{"successPolicy", indexed, func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: i32(1)}}}
		}, "spec.successPolicy: Invalid value:"},
		{"selector", nil, func(j *batchv1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" }, "spec.selector: Invalid value:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := base()
			if tc.old != nil {
				tc.old(old)
			}
			cur := old.DeepCopy()
			tc.change(cur)
			errs := Strategy{}.ValidateUpdate(context.Background(), cur, old)
			switch {
			case tc.want == "" && len(errs) > 0:
				t.Errorf("refused: %v", errs.ToAggregate())
			case tc.want != "" && (len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.want)):
				t.Errorf("errors %v, want %q", errs.ToAggregate(), tc.want)
			}
		})
	}
}
