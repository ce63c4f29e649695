// Package replicaset holds the API behaviour of apps/v1 ReplicaSets
// (pkg/registry/apps/replicaset and pkg/apis/apps/validation): defaults,
// validation, generation, the status and scale subresources. The
// controller that acts on them is internal/controller/replicaset.
package replicaset

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/registry/workload"
)

// Strategy implements registry strategies for ReplicaSets.
type Strategy struct{}

// Resource returns the replicasets resource of apps/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: appsv1.GroupName, Version: "v1",
		Name: "replicasets", SingularName: "replicaset", Kind: "ReplicaSet",
		ShortNames: []string{"rs"}, Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		Scale: &registry.ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				rs := obj.(*appsv1.ReplicaSet)
				return replicas(rs), rs.Status.Replicas, workload.SelectorString(rs.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
		},
		New:      func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList:  func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Strategy: Strategy{},
	}
}

func replicas(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

// SetDefaults fills what apps/v1 defaults on a ReplicaSet.
func SetDefaults(rs *appsv1.ReplicaSet) {
	if rs.Spec.Replicas == nil {
		one := int32(1)
		rs.Spec.Replicas = &one
	}
	pod.SetTemplateDefaults(&rs.Spec.Template)
}

// PrepareForCreate defaults the ReplicaSet, clears its status and starts
// its generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	rs := obj.(*appsv1.ReplicaSet)
	SetDefaults(rs)
	rs.Status = appsv1.ReplicaSetStatus{}
	rs.Generation = 1
}

// Validate is ValidateReplicaSet.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	rs := obj.(*appsv1.ReplicaSet)
	errs := apimachineryvalidation.ValidateObjectMeta(&rs.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, workload.ValidateReplicas(rs.Spec.Replicas, rs.Spec.MinReadySeconds, spec)...)
	return append(errs, workload.ValidateSelectorAndTemplate(rs.Spec.Selector, &rs.Spec.Template, "deployment", spec)...)
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec changes.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	rs, prev := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	SetDefaults(rs)
	rs.Status = prev.Status
	if !apiequality.Semantic.DeepEqual(rs.Spec, prev.Spec) {
		rs.Generation = prev.Generation + 1
	}
}

// ValidateUpdate keeps the selector.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	rs, prev := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	errs := s.Validate(ctx, obj)
	return append(errs, workload.ValidateSelectorUpdate(rs.Spec.Selector, prev.Spec.Selector, field.NewPath("spec"))...)
}

// PrepareForStatusUpdate keeps everything but the status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	rs, prev := obj.(*appsv1.ReplicaSet), old.(*appsv1.ReplicaSet)
	rs.Spec = prev.Spec
	rs.Labels = prev.Labels
}

// ValidateStatusUpdate checks the counts (ValidateReplicaSetStatus).
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	st := obj.(*appsv1.ReplicaSet).Status
	p := field.NewPath("status")
	var errs field.ErrorList
	for _, c := range []struct {
		name string
		v    int32
	}{{"replicas", st.Replicas}, {"fullyLabeledReplicas", st.FullyLabeledReplicas}, {"readyReplicas", st.ReadyReplicas},
		{"availableReplicas", st.AvailableReplicas}, {"observedGeneration", int32(min(st.ObservedGeneration, 1<<31-1))}} {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(c.v), p.Child(c.name))...)
	}
	return errs
}

// SelectableFields are metadata.name, metadata.namespace and
// status.replicas (as upstream's ReplicaSetToSelectableFields).
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	rs := obj.(*appsv1.ReplicaSet)
	return fields.Set{"metadata.name": rs.Name, "metadata.namespace": rs.Namespace, "status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
}
