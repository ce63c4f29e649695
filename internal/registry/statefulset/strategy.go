// Package statefulset holds the API behaviour of apps/v1 StatefulSets
// (pkg/registry/apps/statefulset and pkg/apis/apps/validation): defaults,
// validation (names that make pod hostnames, the fields an update may
// change), the status and scale subresources. The controller that acts on
// them is internal/controller/statefulset.
package statefulset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/pod"
	storageapi "github.com/peapod/peapod/internal/registry/storage"
	"github.com/peapod/peapod/internal/registry/workload"
)

// Strategy implements registry strategies for StatefulSets.
type Strategy struct{}

// Resource returns the statefulsets resource of apps/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: appsv1.GroupName, Version: "v1",
		Name: "statefulsets", SingularName: "statefulset", Kind: "StatefulSet",
		ShortNames: []string{"sts"}, Categories: []string{"all"},
		Namespaced: true, HasStatus: true,
		Scale: &registry.ScaleAccess{
			Get: func(obj runtime.Object) (int32, int32, string) {
				s := obj.(*appsv1.StatefulSet)
				return Replicas(s), s.Status.Replicas, workload.SelectorString(s.Spec.Selector)
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
		},
		New:      func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList:  func() runtime.Object { return &appsv1.StatefulSetList{} },
		Strategy: Strategy{},
	}
}

// Replicas is spec.replicas (1 when unset).
func Replicas(s *appsv1.StatefulSet) int32 {
	if s.Spec.Replicas == nil {
		return 1
	}
	return *s.Spec.Replicas
}

// SetDefaults fills what apps/v1 defaults on a StatefulSet.
func SetDefaults(s *appsv1.StatefulSet) {
	spec := &s.Spec
	if spec.PodManagementPolicy == "" {
		spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if spec.UpdateStrategy.Type == "" {
		spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
		if spec.UpdateStrategy.RollingUpdate == nil {
			spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
	}
	if ru := spec.UpdateStrategy.RollingUpdate; spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && ru != nil && ru.Partition == nil {
		zero := int32(0)
		ru.Partition = &zero
	}
	if spec.PersistentVolumeClaimRetentionPolicy == nil {
		spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	p := spec.PersistentVolumeClaimRetentionPolicy
	if p.WhenDeleted == "" {
		p.WhenDeleted = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if p.WhenScaled == "" {
		p.WhenScaled = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
	}
	if spec.Replicas == nil {
		one := int32(1)
		spec.Replicas = &one
	}
	if spec.RevisionHistoryLimit == nil {
		n := int32(10)
		spec.RevisionHistoryLimit = &n
	}
	pod.SetTemplateDefaults(&spec.Template)
}

// PrepareForCreate defaults the StatefulSet, clears its status and starts
// its generation.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	s := obj.(*appsv1.StatefulSet)
	SetDefaults(s)
	s.Status = appsv1.StatefulSetStatus{}
	s.Generation = 1
}

// Validate is ValidateStatefulSet.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	s := obj.(*appsv1.StatefulSet)
	// Pods are named <set>-<ordinal> and use that as their hostname.
	errs := apimachineryvalidation.ValidateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSLabel, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	errs = append(errs, workload.ValidateReplicas(s.Spec.Replicas, s.Spec.MinReadySeconds, spec)...)
	// The pods get a volume per claim template: the template is checked
	// with them (upstream checks the pod spec only loosely).
	tmpl := s.Spec.Template.DeepCopy()
	for _, ct := range s.Spec.VolumeClaimTemplates {
		found := false
		for _, v := range tmpl.Spec.Volumes {
			found = found || v.Name == ct.Name
		}
		if !found && ct.Name != "" {
			tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, corev1.Volume{Name: ct.Name,
				VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ct.Name}}})
		}
	}
	errs = append(errs, workload.ValidateSelectorAndTemplate(s.Spec.Selector, tmpl, "statefulset", spec)...)
	switch s.Spec.PodManagementPolicy {
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.NotSupported(spec.Child("podManagementPolicy"), s.Spec.PodManagementPolicy,
			[]appsv1.PodManagementPolicyType{appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement}))
	}
	u := s.Spec.UpdateStrategy
	switch u.Type {
	case appsv1.OnDeleteStatefulSetStrategyType:
		if u.RollingUpdate != nil {
			errs = append(errs, field.Invalid(spec.Child("updateStrategy", "rollingUpdate"), u.RollingUpdate,
				"only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := u.RollingUpdate; ru != nil {
			if ru.Partition != nil {
				errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*ru.Partition), spec.Child("updateStrategy", "rollingUpdate", "partition"))...)
			}
			if ru.MaxUnavailable != nil {
				errs = append(errs, field.Forbidden(spec.Child("updateStrategy", "rollingUpdate", "maxUnavailable"), "maxUnavailable is not supported by peapod yet (MaxUnavailableStatefulSet)"))
			}
		}
	default:
		errs = append(errs, field.NotSupported(spec.Child("updateStrategy", "type"), u.Type,
			[]appsv1.StatefulSetUpdateStrategyType{appsv1.OnDeleteStatefulSetStrategyType, appsv1.RollingUpdateStatefulSetStrategyType}))
	}
	if o := s.Spec.Ordinals; o != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(o.Start), spec.Child("ordinals", "start"))...)
	}
	if n := s.Spec.RevisionHistoryLimit; n != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*n), spec.Child("revisionHistoryLimit"))...)
	}
	for i := range s.Spec.VolumeClaimTemplates {
		ct := &s.Spec.VolumeClaimTemplates[i]
		p := spec.Child("volumeClaimTemplates").Index(i)
		if ct.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		}
		errs = append(errs, storageapi.ValidateClaimSpec(&ct.Spec, p.Child("spec"))...)
	}
	if p := s.Spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		for name, v := range map[string]appsv1.PersistentVolumeClaimRetentionPolicyType{"whenDeleted": p.WhenDeleted, "whenScaled": p.WhenScaled} {
			if v != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && v != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(spec.Child("persistentVolumeClaimRetentionPolicy", name), v,
					[]appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.DeletePersistentVolumeClaimRetentionPolicyType, appsv1.RetainPersistentVolumeClaimRetentionPolicyType}))
			}
		}
	}
	return errs
}

// PrepareForUpdate keeps the status and bumps the generation when the
// spec changes.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	s, prev := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	SetDefaults(s)
	s.Status = prev.Status
	if !apiequality.Semantic.DeepEqual(s.Spec, prev.Spec) {
		s.Generation = prev.Generation + 1
	}
}

// ValidateUpdate lets only replicas, ordinals, the template, the update
// strategy, revisionHistoryLimit, the claim retention policy and
// minReadySeconds change.
func (st Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	s, prev := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	// Claim templates stored before peapod refused some of their
	// fields stay updatable.
	errs := registry.Ratchet(st.Validate(ctx, obj), st.Validate(ctx, old))
	a, b := s.Spec.DeepCopy(), prev.Spec.DeepCopy()
	for _, x := range []*appsv1.StatefulSetSpec{a, b} {
		x.Replicas, x.Ordinals, x.Template, x.UpdateStrategy = nil, nil, corev1.PodTemplateSpec{}, appsv1.StatefulSetUpdateStrategy{}
		x.RevisionHistoryLimit, x.PersistentVolumeClaimRetentionPolicy, x.MinReadySeconds = nil, nil, 0
	}
	if !apiequality.Semantic.DeepEqual(a, b) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', "+
			"'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return errs
}

// PrepareForStatusUpdate keeps everything but the status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	s, prev := obj.(*appsv1.StatefulSet), old.(*appsv1.StatefulSet)
	s.Spec = prev.Spec
	s.Labels = prev.Labels
}

// ValidateStatusUpdate accepts the controller's counts.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name and metadata.namespace.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	s := obj.(*appsv1.StatefulSet)
	return fields.Set{"metadata.name": s.Name, "metadata.namespace": s.Namespace}
}
