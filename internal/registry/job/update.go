package job

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateSpecUpdate is ValidateJobSpecUpdate of pkg/apis/batch/validation:
// the selector, completionMode, podFailurePolicy, backoffLimitPerIndex,
// managedBy and successPolicy never change; completions change only for
// an Indexed Job, together with parallelism (elastic Indexed Jobs, GA in
// 1.31); the pod template only in its scheduling directives, and only
// while the Job is suspended and has never started (the job strategy's
// AllowMutableSchedulingDirectives). Upstream's JobMutablePodResources
// (alpha, off by default) is not built: resources stay immutable.
func validateSpecUpdate(j, prev *batchv1.Job) field.ErrorList {
	p := field.NewPath("spec")
	spec, old := &j.Spec, &prev.Spec
	var errs field.ErrorList
	errs = append(errs, validateCompletionsUpdate(spec, old, p.Child("completions"))...)
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(spec.Selector, old.Selector, p.Child("selector"))...)
	errs = append(errs, validateTemplateUpdate(j, prev, p)...)
	for _, f := range []struct {
		name     string
		cur, old any
	}{
		{"completionMode", spec.CompletionMode, old.CompletionMode},
		{"podFailurePolicy", spec.PodFailurePolicy, old.PodFailurePolicy},
		{"backoffLimitPerIndex", spec.BackoffLimitPerIndex, old.BackoffLimitPerIndex},
		{"managedBy", spec.ManagedBy, old.ManagedBy},
		{"successPolicy", spec.SuccessPolicy, old.SuccessPolicy},
	} {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(f.cur, f.old, p.Child(f.name))...)
	}
	return errs
}

// validateCompletionsUpdate: immutable but for Indexed Jobs, whose
// completions may follow parallelism.
func validateCompletionsUpdate(spec, old *batchv1.JobSpec, p *field.Path) field.ErrorList {
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		return apimachineryvalidation.ValidateImmutableField(spec.Completions, old.Completions, p)
	}
	if apiequality.Semantic.DeepEqual(spec.Completions, old.Completions) || spec.Completions == nil {
		// A nil one is refused by the spec's own validation.
		return nil
	}
	if spec.Parallelism == nil || *spec.Completions != *spec.Parallelism {
		return field.ErrorList{field.Invalid(p, *spec.Completions, fmt.Sprintf("can only be modified in tandem with %s", p.Root().Child("parallelism")))}
	}
	return nil
}

// validateTemplateUpdate: the template is immutable, except, for a Job
// suspended that never started, its node affinity, node selector,
// tolerations, scheduling gates, labels and annotations.
func validateTemplateUpdate(j, prev *batchv1.Job, p *field.Path) field.ErrorList {
	cur, old := &j.Spec.Template, &prev.Spec.Template
	suspended := prev.Spec.Suspend != nil && *prev.Spec.Suspend
	if suspended && prev.Status.StartTime == nil {
		old = old.DeepCopy()
		switch a := cur.Spec.Affinity; {
		case a == nil && old.Spec.Affinity != nil:
			// Cleared: allowed when node affinity was all it held.
			old.Spec.Affinity.NodeAffinity = nil
			if *old.Spec.Affinity == (corev1.Affinity{}) {
				old.Spec.Affinity = nil
			}
		case a != nil && old.Spec.Affinity == nil:
			old.Spec.Affinity = &corev1.Affinity{NodeAffinity: a.NodeAffinity}
		case a != nil:
			old.Spec.Affinity.NodeAffinity = a.NodeAffinity
		}
		old.Spec.NodeSelector = cur.Spec.NodeSelector
		old.Spec.Tolerations = cur.Spec.Tolerations
		old.Spec.SchedulingGates = cur.Spec.SchedulingGates
		old.Labels = cur.Labels
		old.Annotations = cur.Annotations
	}
	return apimachineryvalidation.ValidateImmutableField(cur, old, p.Child("template"))
}
