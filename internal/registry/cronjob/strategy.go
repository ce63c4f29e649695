// Package cronjob holds the API behaviour of batch/v1 CronJobs
// (pkg/registry/batch/cronjob and pkg/apis/batch/validation): defaults,
// validation of the schedule (standard cron and @hourly-style macros,
// parsed by robfig/cron as upstream), the time zone, the job template,
// and the status subresource. The controller that acts on them is
// internal/controller/cronjob.
package cronjob

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/pod"
)

// Strategy implements registry strategies for CronJobs.
type Strategy struct{}

// maxNameLength leaves room for the 11-character suffix of its Jobs'
// names.
const maxNameLength = 52

// Resource returns the cronjobs resource of batch/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: batchv1.GroupName, Version: "v1",
		Name: "cronjobs", SingularName: "cronjob", Kind: "CronJob", ShortNames: []string{"cj"}, Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		New:      func() runtime.Object { return &batchv1.CronJob{} },
		NewList:  func() runtime.Object { return &batchv1.CronJobList{} },
		Strategy: Strategy{},
	}
}

// SetDefaults fills what batch/v1 defaults on a CronJob.
func SetDefaults(cj *batchv1.CronJob) {
	spec := &cj.Spec
	if spec.ConcurrencyPolicy == "" {
		spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if spec.Suspend == nil {
		f := false
		spec.Suspend = &f
	}
	if spec.SuccessfulJobsHistoryLimit == nil {
		n := int32(3)
		spec.SuccessfulJobsHistoryLimit = &n
	}
	if spec.FailedJobsHistoryLimit == nil {
		n := int32(1)
		spec.FailedJobsHistoryLimit = &n
	}
	pod.SetTemplateDefaults(&spec.JobTemplate.Spec.Template)
}

// ParseSchedule parses a schedule as the controller does (standard five
// fields or a macro), in loc.
func ParseSchedule(schedule string, loc *time.Location) (cron.Schedule, error) {
	s := schedule
	if loc != nil && loc != time.UTC {
		s = "CRON_TZ=" + loc.String() + " " + schedule
	}
	return cron.ParseStandard(s)
}

// PrepareForCreate defaults the CronJob, clears its status and starts its
// generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	cj := obj.(*batchv1.CronJob)
	SetDefaults(cj)
	cj.Status = batchv1.CronJobStatus{}
	cj.Generation = 1
}

// Validate is ValidateCronJobCreate.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	cj := obj.(*batchv1.CronJob)
	errs := apimachineryvalidation.ValidateObjectMeta(&cj.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if len(cj.Name) > maxNameLength {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, fmt.Sprintf("must be no more than %d characters", maxNameLength)))
	}
	return append(errs, validateSpec(&cj.Spec, field.NewPath("spec"))...)
}

func validateSpec(spec *batchv1.CronJobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := p.Child("schedule")
	switch {
	case spec.Schedule == "":
		errs = append(errs, field.Required(sp, ""))
	case strings.Contains(spec.Schedule, "TZ"):
		errs = append(errs, field.Invalid(sp, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	default:
		if _, err := cron.ParseStandard(spec.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp, spec.Schedule, err.Error()))
		}
	}
	if tz := spec.TimeZone; tz != nil {
		if *tz == "" || strings.EqualFold(*tz, "local") {
			errs = append(errs, field.Invalid(p.Child("timeZone"), *tz, "unknown time zone "+*tz))
		} else if _, err := time.LoadLocation(*tz); err != nil {
			errs = append(errs, field.Invalid(p.Child("timeZone"), *tz, err.Error()))
		}
	}
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, field.NotSupported(p.Child("concurrencyPolicy"), spec.ConcurrencyPolicy,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	if d := spec.StartingDeadlineSeconds; d != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(*d, p.Child("startingDeadlineSeconds"))...)
	}
	for name, v := range map[string]*int32{"successfulJobsHistoryLimit": spec.SuccessfulJobsHistoryLimit, "failedJobsHistoryLimit": spec.FailedJobsHistoryLimit} {
		if v != nil {
			errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*v), p.Child(name))...)
		}
	}
	jp := p.Child("jobTemplate")
	errs = append(errs, metav1validation.ValidateLabels(spec.JobTemplate.Labels, jp.Child("metadata", "labels"))...)
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(spec.JobTemplate.Annotations, jp.Child("metadata", "annotations"))...)
	js, tp := &spec.JobTemplate.Spec, jp.Child("spec", "template")
	if js.Selector != nil && (js.ManualSelector == nil || !*js.ManualSelector) {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), js.Selector, "`selector` will be auto-generated"))
	}
	errs = append(errs, pod.ValidateTemplate(&js.Template, tp)...)
	if rp := js.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever {
		errs = append(errs, field.Required(tp.Child("spec", "restartPolicy"), `valid values: "OnFailure", "Never"`))
	}
	return errs
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec changes.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	cj, prev := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	SetDefaults(cj)
	cj.Status = prev.Status
	if !apiequality.Semantic.DeepEqual(cj.Spec, prev.Spec) {
		cj.Generation = prev.Generation + 1
	}
}

// ValidateUpdate is ValidateCronJobUpdate.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// PrepareForStatusUpdate keeps everything but the status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	cj, prev := obj.(*batchv1.CronJob), old.(*batchv1.CronJob)
	cj.Spec = prev.Spec
	cj.Labels = prev.Labels
}

// ValidateStatusUpdate accepts any status.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name and metadata.namespace.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	cj := obj.(*batchv1.CronJob)
	return fields.Set{"metadata.name": cj.Name, "metadata.namespace": cj.Namespace}
}
