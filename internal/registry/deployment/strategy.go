// Package deployment holds the API behaviour of apps/v1 Deployments
// (pkg/registry/apps/deployment and pkg/apis/apps/validation): defaults,
// validation of the strategy, generation (bumped by spec and annotation
// changes, as the controller copies annotations to ReplicaSets), the
// status and scale subresources. The controller that acts on them is
// internal/controller/deployment.
package deployment

import (
	"context"
	"fmt"
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

// Strategy implements registry strategies for Deployments.
type Strategy struct{}

// Resource returns the deployments resource of apps/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: appsv1.GroupName, Version: "v1",
		Name: "deployments", SingularName: "deployment", Kind: "Deployment",
		ShortNames: []string{"deploy"}, Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		Scale: &registry.ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				d := obj.(*appsv1.Deployment)
				return Replicas(d), d.Status.Replicas, workload.SelectorString(d.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
		},
		New:      func() runtime.Object { return &appsv1.Deployment{} },
		NewList:  func() runtime.Object { return &appsv1.DeploymentList{} },
		Strategy: Strategy{},
	}
}

// Replicas is spec.replicas (1 when unset).
func Replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// SetDefaults fills what apps/v1 defaults on a Deployment
// (SetDefaults_Deployment).
func SetDefaults(d *appsv1.Deployment) {
	spec := &d.Spec
	if spec.Replicas == nil {
		one := int32(1)
		spec.Replicas = &one
	}
	if spec.Strategy.Type == "" {
		spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if spec.Strategy.RollingUpdate == nil {
			spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			spec.Strategy.RollingUpdate.MaxUnavailable = &v
		}
		if spec.Strategy.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			spec.Strategy.RollingUpdate.MaxSurge = &v
		}
	}
	if spec.RevisionHistoryLimit == nil {
		n := int32(10)
		spec.RevisionHistoryLimit = &n
	}
	if spec.ProgressDeadlineSeconds == nil {
		n := int32(600)
		spec.ProgressDeadlineSeconds = &n
	}
	pod.SetTemplateDefaults(&spec.Template)
}

// PrepareForCreate defaults the Deployment, clears its status and starts
// its generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	d := obj.(*appsv1.Deployment)
	SetDefaults(d)
	d.Status = appsv1.DeploymentStatus{}
	d.Generation = 1
}

// Validate is ValidateDeployment.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	d := obj.(*appsv1.Deployment)
	errs := apimachineryvalidation.ValidateObjectMeta(&d.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, workload.ValidateReplicas(d.Spec.Replicas, d.Spec.MinReadySeconds, spec)...)
	errs = append(errs, workload.ValidateSelectorAndTemplate(d.Spec.Selector, &d.Spec.Template, "deployment", spec)...)
	errs = append(errs, validateStrategy(&d.Spec.Strategy, spec.Child("strategy"))...)
	if n := d.Spec.RevisionHistoryLimit; n != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*n), spec.Child("revisionHistoryLimit"))...)
	}
	if p := d.Spec.ProgressDeadlineSeconds; p != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*p), spec.Child("progressDeadlineSeconds"))...)
		if *p <= d.Spec.MinReadySeconds {
			errs = append(errs, field.Invalid(spec.Child("progressDeadlineSeconds"), *p, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateStrategy(s *appsv1.DeploymentStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(p.Child("rollingUpdate"), fmt.Sprintf("may not be specified when strategy `type` is '%s'", appsv1.RecreateDeploymentStrategyType)))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := s.RollingUpdate
		if ru == nil {
			return append(errs, field.Required(p.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		rp := p.Child("rollingUpdate")
		errs = append(errs, validateIntOrPercent(ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
		errs = append(errs, validateIntOrPercent(ru.MaxSurge, rp.Child("maxSurge"))...)
		if ru.MaxUnavailable != nil && ru.MaxUnavailable.Type == intstr.String {
			if v, err := strconv.Atoi(ru.MaxUnavailable.StrVal[:max(len(ru.MaxUnavailable.StrVal)-1, 0)]); err == nil && v > 100 {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "must not be greater than 100%"))
			}
		}
		if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
			errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("type"), s.Type,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

// validateIntOrPercent is ValidatePositiveIntOrPercent.
func validateIntOrPercent(v *intstr.IntOrString, p *field.Path) field.ErrorList {
	if v == nil {
		return nil
	}
	if v.Type == intstr.String {
		var errs field.ErrorList
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v, msg))
		}
		return errs
	}
	return apimachineryvalidation.ValidateNonnegativeField(int64(v.IntVal), p)
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return true
	}
	if v.Type == intstr.String {
		return v.StrVal == "0%"
	}
	return v.IntVal == 0
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec or the annotations change.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	d, prev := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	SetDefaults(d)
	d.Status = prev.Status
	if !apiequality.Semantic.DeepEqual(d.Spec, prev.Spec) || !apiequality.Semantic.DeepEqual(d.Annotations, prev.Annotations) {
		d.Generation = prev.Generation + 1
	}
}

// ValidateUpdate keeps the selector.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	d, prev := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	errs := s.Validate(ctx, obj)
	return append(errs, workload.ValidateSelectorUpdate(d.Spec.Selector, prev.Spec.Selector, field.NewPath("spec"))...)
}

// PrepareForStatusUpdate keeps the spec and labels; annotations sent to
// /status are kept (the controller writes the revision annotation so).
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	d, prev := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
	d.Spec = prev.Spec
	d.Labels = prev.Labels
}

// ValidateStatusUpdate checks the counts.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	st := obj.(*appsv1.Deployment).Status
	p := field.NewPath("status")
	var errs field.ErrorList
	for name, v := range map[string]int32{"replicas": st.Replicas, "updatedReplicas": st.UpdatedReplicas, "readyReplicas": st.ReadyReplicas,
		"availableReplicas": st.AvailableReplicas, "unavailableReplicas": st.UnavailableReplicas} {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(v), p.Child(name))...)
	}
	return errs
}

// SelectableFields are metadata.name and metadata.namespace.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	d := obj.(*appsv1.Deployment)
	return fields.Set{"metadata.name": d.Name, "metadata.namespace": d.Namespace}
}
