// Package job holds the API behaviour of batch/v1 Jobs
// (pkg/registry/batch/job and pkg/apis/batch/validation): defaults, the
// generated selector and labels, validation, the status subresource, and
// the default deletion propagation (orphan, with upstream's warning). The
// controller that acts on them is internal/controller/job.
package job

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/pod"
)

// Strategy implements registry strategies for Jobs.
type Strategy struct{}

// legacy label keys, still set as upstream does.
const (
	legacyControllerUID = "controller-uid"
	legacyJobName       = "job-name"
)

// Resource returns the jobs resource of batch/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: batchv1.GroupName, Version: "v1",
		Name: "jobs", SingularName: "job", Kind: "Job", Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		// Deleting a Job keeps its pods unless asked otherwise
		// (DefaultGarbageCollectionPolicy of batch/v1 jobs).
		DefaultPropagation: metav1.DeletePropagationOrphan,
		DefaultPropagationWarning: "child pods are preserved by default when jobs are deleted; " +
			"set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning",
		New:      func() runtime.Object { return &batchv1.Job{} },
		NewList:  func() runtime.Object { return &batchv1.JobList{} },
		Strategy: Strategy{},
	}
}

// SetDefaults fills what batch/v1 defaults on a Job (SetDefaults_Job).
func SetDefaults(j *batchv1.Job) {
	spec := &j.Spec
	switch {
	case spec.Completions == nil && spec.Parallelism == nil:
		one, two := int32(1), int32(1)
		spec.Completions, spec.Parallelism = &one, &two
	case spec.Parallelism == nil:
		one := int32(1)
		spec.Parallelism = &one
	}
	if spec.BackoffLimit == nil {
		n := int32(6)
		if spec.BackoffLimitPerIndex != nil {
			n = 1<<31 - 1
		}
		spec.BackoffLimit = &n
	}
	if len(j.Labels) == 0 && len(spec.Template.Labels) > 0 {
		j.Labels = copyMap(spec.Template.Labels)
	}
	if spec.CompletionMode == nil {
		m := batchv1.NonIndexedCompletion
		spec.CompletionMode = &m
	}
	if spec.Suspend == nil {
		f := false
		spec.Suspend = &f
	}
	if spec.ManualSelector == nil {
		f := false
		spec.ManualSelector = &f
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		for i := range pfp.Rules {
			for j := range pfp.Rules[i].OnPodConditions {
				if pfp.Rules[i].OnPodConditions[j].Status == "" {
					pfp.Rules[i].OnPodConditions[j].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		p := batchv1.TerminatingOrFailed
		if spec.PodFailurePolicy != nil {
			p = batchv1.Failed
		}
		spec.PodReplacementPolicy = &p
	}
	pod.SetTemplateDefaults(&spec.Template)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// PrepareForCreate defaults the Job, clears its status and starts its
// generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	j := obj.(*batchv1.Job)
	SetDefaults(j)
	j.Status = batchv1.JobStatus{}
	j.Generation = 1
}

// Canonicalize generates the selector and the template labels once the
// Job has its UID and name (generateSelector): controller-uid and job-name,
// each with and without the batch.kubernetes.io/ prefix, selected by the
// prefixed controller-uid. A manualSelector Job keeps its own.
func (Strategy) Canonicalize(obj runtime.Object) {
	j := obj.(*batchv1.Job)
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector || j.Spec.Selector != nil || j.UID == "" {
		return // its own, generated at create, or sent by the user (refused by validation)
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	uid := string(j.UID)
	for k, v := range map[string]string{batchv1.ControllerUidLabel: uid, legacyControllerUID: uid, batchv1.JobNameLabel: j.Name, legacyJobName: j.Name} {
		if _, ok := j.Spec.Template.Labels[k]; !ok {
			j.Spec.Template.Labels[k] = v
		}
	}
	j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
}

// Validate is ValidateJob.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	j := obj.(*batchv1.Job)
	errs := apimachineryvalidation.ValidateObjectMeta(&j.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if manual := j.Spec.ManualSelector; (manual == nil || !*manual) && j.Spec.Selector != nil {
		if j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] != string(j.UID) {
			errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
		}
	}
	if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion && j.Spec.Completions != nil && *j.Spec.Completions > 0 {
		// Indexed pods are named <job>-<index>: that must be a label.
		last := fmt.Sprintf("%s-%d", j.Name, *j.Spec.Completions-1)
		if msgs := validation.IsDNS1123Label(last); len(msgs) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), j.Name,
				fmt.Sprintf("will not able to create pod with invalid DNS label: %s", last)))
		}
	}
	return append(errs, validateSpec(&j.Spec, field.NewPath("spec"))...)
}

func validateSpec(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	nonneg := func(v *int32, name string) {
		if v != nil {
			errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*v), p.Child(name))...)
		}
	}
	nonneg(spec.Parallelism, "parallelism")
	nonneg(spec.Completions, "completions")
	nonneg(spec.BackoffLimit, "backoffLimit")
	nonneg(spec.TTLSecondsAfterFinished, "ttlSecondsAfterFinished")
	if d := spec.ActiveDeadlineSeconds; d != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(*d, p.Child("activeDeadlineSeconds"))...)
	}
	if m := spec.CompletionMode; m != nil {
		switch *m {
		case batchv1.NonIndexedCompletion:
		case batchv1.IndexedCompletion:
			if spec.Completions == nil {
				errs = append(errs, field.Required(p.Child("completions"), "when completion mode is Indexed"))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("completionMode"), *m, []batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
	}
	if r := spec.PodReplacementPolicy; r != nil && *r != batchv1.TerminatingOrFailed && *r != batchv1.Failed {
		errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r, []batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}))
	}
	// What peapod's Job controller does not do yet is refused, never
	// ignored.
	if pfp := spec.PodFailurePolicy; pfp != nil {
		errs = append(errs, validatePodFailurePolicy(spec, p.Child("podFailurePolicy"))...)
	}
	if sp := spec.SuccessPolicy; sp != nil {
		errs = append(errs, validateSuccessPolicy(spec, p.Child("successPolicy"))...)
	}
	indexedMode := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if b := spec.BackoffLimitPerIndex; b != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*b), p.Child("backoffLimitPerIndex"))...)
		if !indexedMode {
			errs = append(errs, field.Invalid(p.Child("backoffLimitPerIndex"), *b, "requires indexed completion mode"))
		}
	}
	if m := spec.MaxFailedIndexes; m != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*m), p.Child("maxFailedIndexes"))...)
		switch {
		case spec.BackoffLimitPerIndex == nil:
			errs = append(errs, field.Required(p.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		case spec.Completions != nil && *m > *spec.Completions:
			errs = append(errs, field.Invalid(p.Child("maxFailedIndexes"), *m, "must be less than or equal to completions"))
		}
	}
	if m := spec.ManagedBy; m != nil && *m != batchv1.JobControllerName {
		errs = append(errs, field.Forbidden(p.Child("managedBy"), fmt.Sprintf("peapod runs only Jobs managed by %s", batchv1.JobControllerName)))
	}
	sp := p.Child("selector")
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, sp)...)
		if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
			errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	tp := p.Child("template")
	errs = append(errs, pod.ValidateTemplate(&spec.Template, tp)...)
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Required(tp.Child("spec", "restartPolicy"), `valid values: "OnFailure", "Never"`))
	case spec.PodFailurePolicy != nil && rp != corev1.RestartPolicyNever:
		errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), rp, `only "Never" is supported when podFailurePolicy is specified`))
	}
	return errs
}

// maxPodFailurePolicyRules and maxExitCodeValues are upstream's limits.
const (
	maxPodFailurePolicyRules = 20
	maxExitCodeValues        = 255
)

// validatePodFailurePolicy is validatePodFailurePolicy of
// pkg/apis/batch/validation.
func validatePodFailurePolicy(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.PodFailurePolicy.Rules
	rp := p.Child("rules")
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rp, len(rules), maxPodFailurePolicyRules))
	}
	for i, r := range rules {
		ip := rp.Index(i)
		switch r.Action {
		case batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore:
		case batchv1.PodFailurePolicyActionFailIndex:
			if spec.BackoffLimitPerIndex == nil {
				errs = append(errs, field.Invalid(ip.Child("action"), r.Action, "requires the backoffLimitPerIndex to be set"))
			}
		default:
			errs = append(errs, field.NotSupported(ip.Child("action"), r.Action, []batchv1.PodFailurePolicyAction{
				batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if e := r.OnExitCodes; e != nil {
			ep := ip.Child("onExitCodes")
			if e.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn && e.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn {
				errs = append(errs, field.NotSupported(ep.Child("operator"), e.Operator, []batchv1.PodFailurePolicyOnExitCodesOperator{
					batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}))
			}
			if e.ContainerName != nil {
				found := false
				for _, c := range append(append([]corev1.Container(nil), spec.Template.Spec.Containers...), spec.Template.Spec.InitContainers...) {
					found = found || c.Name == *e.ContainerName
				}
				if !found {
					errs = append(errs, field.Invalid(ep.Child("containerName"), *e.ContainerName, "must be one of the container or initContainer names in the pod template"))
				}
			}
			vp := ep.Child("values")
			switch {
			case len(e.Values) == 0:
				errs = append(errs, field.Required(vp, "at least one value is required"))
			case len(e.Values) > maxExitCodeValues:
				errs = append(errs, field.TooMany(vp, len(e.Values), maxExitCodeValues))
			}
			for j, v := range e.Values {
				switch {
				case j > 0 && v == e.Values[j-1]:
					errs = append(errs, field.Duplicate(vp.Index(j), v))
				case j > 0 && v < e.Values[j-1]:
					errs = append(errs, field.Invalid(vp.Index(j), v, "must be ordered"))
				}
				if v == 0 && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
					errs = append(errs, field.Invalid(vp.Index(j), v, "must not be 0 for the In operator"))
				}
			}
		}
		for j, pat := range r.OnPodConditions {
			cp := ip.Child("onPodConditions").Index(j)
			if pat.Type == "" {
				errs = append(errs, field.Required(cp.Child("type"), ""))
			}
			if pat.Status != corev1.ConditionTrue && pat.Status != corev1.ConditionFalse && pat.Status != corev1.ConditionUnknown {
				errs = append(errs, field.NotSupported(cp.Child("status"), pat.Status, []corev1.ConditionStatus{corev1.ConditionFalse, corev1.ConditionTrue, corev1.ConditionUnknown}))
			}
		}
	}
	return errs
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec changes.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	j, prev := obj.(*batchv1.Job), old.(*batchv1.Job)
	SetDefaults(j)
	j.Status = prev.Status
	if !apiequality.Semantic.DeepEqual(j.Spec, prev.Spec) {
		j.Generation = prev.Generation + 1
	}
}

// ValidateUpdate is ValidateJobUpdate: the Job's own validation, then
// what may not change (validateSpecUpdate).
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	j, prev := obj.(*batchv1.Job), old.(*batchv1.Job)
	return append(s.Validate(ctx, obj), validateSpecUpdate(j, prev)...)
}

// PrepareForStatusUpdate keeps everything but the status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	j, prev := obj.(*batchv1.Job), old.(*batchv1.Job)
	j.Spec = prev.Spec
	j.Labels = prev.Labels
}

// ValidateStatusUpdate checks the counters.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	st := obj.(*batchv1.Job).Status
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int32
	}{{"active", st.Active}, {"succeeded", st.Succeeded}, {"failed", st.Failed}} {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(c.v), p.Child(c.name))...)
	}
	return errs
}

// SelectableFields are metadata.name, metadata.namespace and
// status.successful (JobToSelectableFields).
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	j := obj.(*batchv1.Job)
	return fields.Set{"metadata.name": j.Name, "metadata.namespace": j.Namespace, "status.successful": fmt.Sprint(j.Status.Succeeded)}
}

// validateSuccessPolicy is validateSuccessPolicy of
// pkg/apis/batch/validation: Indexed Jobs only, 1 to 20 rules, each with
// succeededIndexes (intervals within completions) or succeededCount (at
// most completions, and at most the indexes it names) or both.
func validateSuccessPolicy(spec *batchv1.JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rules := spec.SuccessPolicy.Rules
	rp := p.Child("rules")
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion {
		errs = append(errs, field.Invalid(p, field.OmitValueType{}, "requires indexed completion mode"))
		return errs
	}
	switch {
	case len(rules) == 0:
		errs = append(errs, field.Required(rp, "at least one rules must be specified when the successPolicy is specified"))
	case len(rules) > maxPodFailurePolicyRules:
		errs = append(errs, field.TooMany(rp, len(rules), maxPodFailurePolicyRules))
	}
	completions := int32(0)
	if spec.Completions != nil {
		completions = *spec.Completions
	}
	for i, r := range rules {
		ip := rp.Index(i)
		if r.SucceededIndexes == nil && r.SucceededCount == nil {
			errs = append(errs, field.Required(ip, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		named := int32(-1)
		if r.SucceededIndexes != nil {
			n, err := countIndexes(*r.SucceededIndexes, completions)
			if err != nil {
				errs = append(errs, field.Invalid(ip.Child("succeededIndexes"), *r.SucceededIndexes, err.Error()))
			}
			named = n
		}
		if c := r.SucceededCount; c != nil {
			switch {
			case *c < 0:
				errs = append(errs, field.Invalid(ip.Child("succeededCount"), *c, "must be greater than or equal to 0"))
			case *c > completions:
				errs = append(errs, field.Invalid(ip.Child("succeededCount"), *c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			case named >= 0 && *c > named:
				errs = append(errs, field.Invalid(ip.Child("succeededCount"), *c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", named)))
			}
		}
	}
	return errs
}

// countIndexes checks an interval list ("0,2-4") against completions and
// counts its indexes.
func countIndexes(s string, completions int32) (int32, error) {
	var n, last int32 = 0, -1
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.ParseInt(lo, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("cannot convert string to integer for index: %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.ParseInt(hi, 10, 32); err != nil {
				return 0, fmt.Errorf("cannot convert string to integer for index: %q", hi)
			}
		}
		switch {
		case b < a:
			return 0, fmt.Errorf("non-increasing order, previous: %d, current: %d", a, b)
		case int32(a) <= last:
			return 0, fmt.Errorf("overlapping intervals")
		case int32(b) >= completions:
			return 0, fmt.Errorf("too large: %d", b)
		}
		n += int32(b - a + 1)
		last = int32(b)
	}
	return n, nil
}
