// Package daemonset holds the API behaviour of apps/v1 DaemonSets
// (pkg/registry/apps/daemonset and pkg/apis/apps/validation): defaults,
// the template generation, validation of the update strategy, and the
// status subresource. The controller that acts on them is
// internal/controller/daemonset.
package daemonset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/registry/workload"
)

// TemplateGenerationAnnotation shows spec.templateGeneration of the
// internal API in apps/v1.
const TemplateGenerationAnnotation = "deprecated.daemonset.template.generation"

// Strategy implements registry strategies for DaemonSets.
type Strategy struct{}

// Resource returns the daemonsets resource of apps/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: appsv1.GroupName, Version: "v1",
		Name: "daemonsets", SingularName: "daemonset", Kind: "DaemonSet",
		ShortNames: []string{"ds"}, Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		New:      func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList:  func() runtime.Object { return &appsv1.DaemonSetList{} },
		Strategy: Strategy{},
	}
}

// SetDefaults fills what apps/v1 defaults on a DaemonSet.
func SetDefaults(ds *appsv1.DaemonSet) {
	u := &ds.Spec.UpdateStrategy
	if u.Type == "" {
		u.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if u.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if u.RollingUpdate == nil {
			u.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		if u.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromInt32(1)
			u.RollingUpdate.MaxUnavailable = &v
		}
		if u.RollingUpdate.MaxSurge == nil {
			v := intstr.FromInt32(0)
			u.RollingUpdate.MaxSurge = &v
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		ds.Spec.RevisionHistoryLimit = &n
	}
	pod.SetTemplateDefaults(&ds.Spec.Template)
}

// TemplateGeneration is the DaemonSet's template generation.
func TemplateGeneration(ds *appsv1.DaemonSet) int64 {
	n, _ := strconv.ParseInt(ds.Annotations[TemplateGenerationAnnotation], 10, 64)
	return n
}

func setTemplateGeneration(ds *appsv1.DaemonSet, n int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[TemplateGenerationAnnotation] = strconv.FormatInt(n, 10)
}

// PrepareForCreate defaults the DaemonSet, clears its status and starts
// its generation and template generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ds := obj.(*appsv1.DaemonSet)
	SetDefaults(ds)
	ds.Status = appsv1.DaemonSetStatus{}
	ds.Generation = 1
	setTemplateGeneration(ds, 1)
}

// Validate is ValidateDaemonSet.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ds := obj.(*appsv1.DaemonSet)
	errs := apimachineryvalidation.ValidateObjectMeta(&ds.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, workload.ValidateReplicas(nil, ds.Spec.MinReadySeconds, spec)...)
	errs = append(errs, workload.ValidateSelectorAndTemplate(ds.Spec.Selector, &ds.Spec.Template, "daemonset", spec)...)
	if n := ds.Spec.RevisionHistoryLimit; n != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*n), spec.Child("revisionHistoryLimit"))...)
	}
	return append(errs, validateUpdateStrategy(&ds.Spec.UpdateStrategy, spec.Child("updateStrategy"))...)
}

func validateUpdateStrategy(u *appsv1.DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch u.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := u.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(p.Child("rollingUpdate"), ""))
		}
		rp := p.Child("rollingUpdate")
		for name, v := range map[string]*intstr.IntOrString{"maxUnavailable": ru.MaxUnavailable, "maxSurge": ru.MaxSurge} {
			if v == nil {
				continue
			}
			if v.Type == intstr.String {
				for _, msg := range validation.IsValidPercent(v.StrVal) {
					errs = append(errs, field.Invalid(rp.Child(name), v, msg))
				}
			} else {
				errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(v.IntVal), rp.Child(name))...)
			}
		}
		unavailable, surge := nonZero(ru.MaxUnavailable), nonZero(ru.MaxSurge)
		switch {
		case unavailable && surge:
			errs = append(errs, field.Invalid(rp.Child("maxSurge"), ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case !unavailable && !surge:
			errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), u.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.OnDeleteDaemonSetStrategyType, appsv1.RollingUpdateDaemonSetStrategyType}))
	}
	return errs
}

func nonZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.String {
		return v.StrVal != "0%" && v.StrVal != "0" && v.StrVal != ""
	}
	return v.IntVal != 0
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec changes, and the template generation when the template does.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ds, prev := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	SetDefaults(ds)
	ds.Status = prev.Status
	gen := TemplateGeneration(prev)
	if !apiequality.Semantic.DeepEqual(ds.Spec.Template, prev.Spec.Template) {
		gen++
	}
	setTemplateGeneration(ds, gen)
	if !apiequality.Semantic.DeepEqual(ds.Spec, prev.Spec) {
		ds.Generation = prev.Generation + 1
	}
}

// ValidateUpdate keeps the selector.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	ds, prev := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	return append(s.Validate(ctx, obj), workload.ValidateSelectorUpdate(ds.Spec.Selector, prev.Spec.Selector, field.NewPath("spec"))...)
}

// PrepareForStatusUpdate keeps everything but the status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	ds, prev := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
	ds.Spec = prev.Spec
	ds.Labels = prev.Labels
	ds.Annotations = prev.Annotations
}

// ValidateStatusUpdate accepts the controller's counts.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name and metadata.namespace.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	ds := obj.(*appsv1.DaemonSet)
	return fields.Set{"metadata.name": ds.Name, "metadata.namespace": ds.Namespace}
}
