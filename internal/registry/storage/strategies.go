// Package storage holds the API behaviour of the storage objects
// StatefulSets need on one node (pkg/registry/core/persistentvolume{,claim},
// pkg/registry/storage/storageclass): PersistentVolumeClaims (with the
// default StorageClass filled in at create and the pvc-protection
// finalizer), PersistentVolumes (hostPath and local sources) and
// StorageClasses. The PV controller that binds and provisions them is
// internal/controller/volume.
package storage

import (
	"context"
	"errors"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	volumehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/peapod/peapod/internal/registry"
)

// Finalizers and annotations.
const (
	PVCProtectionFinalizer = "kubernetes.io/pvc-protection"
	PVProtectionFinalizer  = "kubernetes.io/pv-protection"
	DefaultClassAnnotation = "storageclass.kubernetes.io/is-default-class"
	// ProvisionedByAnnotation names the provisioner that made a volume.
	ProvisionedByAnnotation = "pv.kubernetes.io/provisioned-by"
	// MountOptionsAnnotation is the beta form of spec.mountOptions.
	MountOptionsAnnotation = "volume.beta.kubernetes.io/mount-options"
	betaDefaultClass       = "storageclass.beta.kubernetes.io/is-default-class"
)

var accessModes = sets.New(string(corev1.ReadWriteOnce), string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOncePod))

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(modes) == 0 {
		errs = append(errs, field.Required(p, "at least 1 access mode is required"))
	}
	for _, m := range modes {
		if !accessModes.Has(string(m)) {
			errs = append(errs, field.NotSupported(p, m, sets.List(accessModes)))
		}
	}
	return errs
}

// ClaimStrategy implements registry strategies for PersistentVolumeClaims.
type ClaimStrategy struct {
	// Classes lists the StorageClasses, for the default one and volume
	// expansion (nil: none).
	Classes func(ctx context.Context) ([]storagev1.StorageClass, error)
	// Volume gets a PersistentVolume by name, to check that a growing
	// claim's volume can grow (nil: not checked).
	Volume func(ctx context.Context, name string) (*corev1.PersistentVolume, error)
	// Resizer is the provisioner (pv.kubernetes.io/provisioned-by) whose
	// hostPath volumes can grow: only they may be expanded.
	Resizer string
}

// ClaimResource returns the persistentvolumeclaims resource.
func ClaimResource(s *ClaimStrategy) *registry.Resource {
	return &registry.Resource{
		Name: "persistentvolumeclaims", SingularName: "persistentvolumeclaim", Kind: "PersistentVolumeClaim", ShortNames: []string{"pvc"},
		Namespaced: true, HasStatus: true,
		New:      func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList:  func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		Strategy: s,
	}
}

// AdmitCreate is the DefaultStorageClass admission plugin: a claim that
// names no class gets the default one (the newest, then by name, when
// several say so).
func (s *ClaimStrategy) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.Spec.StorageClassName != nil || s.Classes == nil {
		return nil
	}
	classes, err := s.Classes(ctx)
	if err != nil {
		return err
	}
	var defaults []storagev1.StorageClass
	for _, c := range classes {
		if c.Annotations[DefaultClassAnnotation] == "true" || c.Annotations[betaDefaultClass] == "true" {
			defaults = append(defaults, c)
		}
	}
	if len(defaults) == 0 {
		return nil
	}
	sort.Slice(defaults, func(i, j int) bool {
		a, b := defaults[i].CreationTimestamp, defaults[j].CreationTimestamp
		if !a.Equal(&b) {
			return b.Before(&a)
		}
		return defaults[i].Name < defaults[j].Name
	})
	name := defaults[0].Name
	pvc.Spec.StorageClassName = &name
	return nil
}

// PrepareForCreate sets the pending status, the filesystem mode and the
// protection finalizer.
func (s *ClaimStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	if pvc.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pvc.Spec.VolumeMode = &m
	}
	if !contains(pvc.Finalizers, PVCProtectionFinalizer) {
		pvc.Finalizers = append(pvc.Finalizers, PVCProtectionFinalizer)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Validate is ValidatePersistentVolumeClaim.
func (s *ClaimStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	errs := apimachineryvalidation.ValidateObjectMeta(&pvc.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, ValidateClaimSpec(&pvc.Spec, field.NewPath("spec"))...)
}

// ValidateClaimSpec checks a claim's spec (also a StatefulSet's claim
// templates).
func ValidateClaimSpec(spec *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(spec.AccessModes, p.Child("accessModes"))
	q, ok := spec.Resources.Requests[corev1.ResourceStorage]
	switch {
	case !ok:
		errs = append(errs, field.Required(p.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	case q.Sign() <= 0:
		errs = append(errs, field.Invalid(p.Child("resources").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	if m := spec.VolumeMode; m != nil && *m != corev1.PersistentVolumeFilesystem {
		errs = append(errs, field.Forbidden(p.Child("volumeMode"), fmt.Sprintf("volumeMode %s is not supported by peapod (only Filesystem)", *m)))
	}
	if spec.Selector != nil || spec.DataSource != nil || spec.DataSourceRef != nil {
		errs = append(errs, field.Forbidden(p, "selector, dataSource and dataSourceRef are not supported by peapod yet"))
	}
	if spec.VolumeAttributesClassName != nil {
		errs = append(errs, field.Forbidden(p.Child("volumeAttributesClassName"), "VolumeAttributesClasses are not supported by peapod"))
	}
	return errs
}

// PrepareForUpdate keeps the status.
func (s *ClaimStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Status = old.(*corev1.PersistentVolumeClaim).Status
}

// ValidateUpdate is ValidatePersistentVolumeClaimUpdate: the spec is
// immutable but for the volume name, set once, and, on a bound claim, a
// larger storage request. (peapod refuses volumeAttributesClassName
// altogether, so the message is upstream's from before it existed.)
func (s *ClaimStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pvc, prev := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	errs := registry.Ratchet(s.Validate(ctx, obj), s.Validate(ctx, old))
	a, b := pvc.Spec.DeepCopy(), prev.Spec.DeepCopy()
	if b.VolumeName == "" {
		b.VolumeName = a.VolumeName
	}
	storage := field.NewPath("spec", "resources", "requests", "storage")
	// The status is the stored one (PrepareForUpdate).
	if pvc.Status.Phase == corev1.ClaimBound && a.Resources.Requests != nil {
		if q, ok := b.Resources.Requests[corev1.ResourceStorage]; ok {
			a.Resources.Requests[corev1.ResourceStorage] = q
		} else {
			delete(a.Resources.Requests, corev1.ResourceStorage)
		}
	}
	if !apiequality.Semantic.DeepEqual(a, b) {
		errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests for bound claims"))
	}
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], prev.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) < 0 {
		errs = append(errs, field.Forbidden(storage, "field can not be less than previous value"))
	}
	return errs
}

// AdmitUpdate is the PersistentVolumeClaimResize admission plugin: a
// claim grows only once bound, and only when its StorageClass allows
// volume expansion. peapod resizes only the volumes its own provisioner
// made (Resizer), so a claim bound to a volume made by hand is refused
// with the same message.
func (s *ClaimStrategy) AdmitUpdate(ctx context.Context, obj, old runtime.Object) error {
	pvc, prev := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
	newSize, oldSize := pvc.Spec.Resources.Requests[corev1.ResourceStorage], prev.Spec.Resources.Requests[corev1.ResourceStorage]
	if newSize.Cmp(oldSize) <= 0 {
		return nil
	}
	gr := corev1.Resource("persistentvolumeclaims")
	if prev.Status.Phase != corev1.ClaimBound {
		return apierrors.NewForbidden(gr, pvc.Name, errors.New("Only bound persistent volume claims can be expanded"))
	}
	ok, err := s.resizable(ctx, pvc, prev)
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewForbidden(gr, pvc.Name, errors.New("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"))
	}
	return nil
}

// resizable: the claim keeps its StorageClass, which allows expansion,
// and its volume was made by the Resizer.
func (s *ClaimStrategy) resizable(ctx context.Context, pvc, prev *corev1.PersistentVolumeClaim) (bool, error) {
	class, oldClass := volumehelpers.GetPersistentVolumeClaimClass(pvc), volumehelpers.GetPersistentVolumeClaimClass(prev)
	if class == "" || class != oldClass || s.Classes == nil {
		return false, nil
	}
	classes, err := s.Classes(ctx)
	if err != nil {
		return false, err
	}
	var sc *storagev1.StorageClass
	for i := range classes {
		if classes[i].Name == class {
			sc = &classes[i]
		}
	}
	if sc == nil || sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
		return false, nil
	}
	if s.Volume == nil {
		return true, nil
	}
	pv, err := s.Volume(ctx, prev.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return s.Resizer != "" && pv.Annotations[ProvisionedByAnnotation] == s.Resizer && pv.Spec.HostPath != nil, nil
}

// PrepareForStatusUpdate keeps the spec.
func (s *ClaimStrategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.PersistentVolumeClaim).Spec = old.(*corev1.PersistentVolumeClaim).Spec
}

// ValidateStatusUpdate accepts the controller's status.
func (s *ClaimStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name and metadata.namespace.
func (s *ClaimStrategy) SelectableFields(obj runtime.Object) fields.Set {
	pvc := obj.(*corev1.PersistentVolumeClaim)
	return fields.Set{"metadata.name": pvc.Name, "metadata.namespace": pvc.Namespace}
}

// VolumeStrategy implements registry strategies for PersistentVolumes.
type VolumeStrategy struct{}

// VolumeResource returns the persistentvolumes resource.
func VolumeResource() *registry.Resource {
	return &registry.Resource{
		Name: "persistentvolumes", SingularName: "persistentvolume", Kind: "PersistentVolume", ShortNames: []string{"pv"},
		HasStatus: true,
		New:       func() runtime.Object { return &corev1.PersistentVolume{} },
		NewList:   func() runtime.Object { return &corev1.PersistentVolumeList{} },
		Strategy:  VolumeStrategy{},
	}
}

// PrepareForCreate sets the pending status, the reclaim policy default
// (Retain) and the protection finalizer.
func (VolumeStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pv := obj.(*corev1.PersistentVolume)
	pv.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		m := corev1.PersistentVolumeFilesystem
		pv.Spec.VolumeMode = &m
	}
	if !contains(pv.Finalizers, PVProtectionFinalizer) {
		pv.Finalizers = append(pv.Finalizers, PVProtectionFinalizer)
	}
}

// Validate is ValidatePersistentVolume, for the sources peapod mounts.
func (VolumeStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	pv := obj.(*corev1.PersistentVolume)
	errs := apimachineryvalidation.ValidateObjectMeta(&pv.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	p := field.NewPath("spec")
	errs = append(errs, validateAccessModes(pv.Spec.AccessModes, p.Child("accessModes"))...)
	if q, ok := pv.Spec.Capacity[corev1.ResourceStorage]; !ok || q.Sign() <= 0 {
		errs = append(errs, field.Required(p.Child("capacity"), "must specify a storage capacity"))
	}
	switch {
	case pv.Spec.HostPath != nil:
		if pv.Spec.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
		}
		// pkg/volume/validation: the hostPath plugin takes no mount
		// options (kubelet would refuse to mount it).
		if _, ok := pv.Annotations[MountOptionsAnnotation]; ok {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations").Key(MountOptionsAnnotation), "may not specify mount options for this volume type"))
		}
		if len(pv.Spec.MountOptions) > 0 {
			errs = append(errs, field.Forbidden(p.Child("mountOptions"), "may not specify mount options for this volume type"))
		}
	case pv.Spec.Local != nil:
		if pv.Spec.Local.Path == "" {
			errs = append(errs, field.Required(p.Child("local", "path"), ""))
		}
		if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			errs = append(errs, field.Required(p.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
		if len(pv.Spec.MountOptions) > 0 || pv.Annotations[MountOptionsAnnotation] != "" {
			errs = append(errs, field.Forbidden(p.Child("mountOptions"), "mount options are not supported by peapod: local volumes are bind-mounted as they are"))
		}
	default:
		errs = append(errs, field.Forbidden(p, "only hostPath and local persistent volumes are supported by peapod"))
	}
	if pv.Spec.VolumeAttributesClassName != nil {
		errs = append(errs, field.Forbidden(p.Child("volumeAttributesClassName"), "VolumeAttributesClasses are not supported by peapod"))
	}
	return errs
}

// PrepareForUpdate keeps the status.
func (VolumeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.PersistentVolume).Status = old.(*corev1.PersistentVolume).Status
}

// ValidateUpdate keeps the source.
func (s VolumeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pv, prev := obj.(*corev1.PersistentVolume), old.(*corev1.PersistentVolume)
	errs := registry.Ratchet(s.Validate(ctx, obj), s.Validate(ctx, old))
	if !apiequality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, prev.Spec.PersistentVolumeSource) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "persistentvolumesource"), "spec.persistentvolumesource is forbidden."))
	}
	return errs
}

// PrepareForStatusUpdate keeps the spec.
func (VolumeStrategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.PersistentVolume).Spec = old.(*corev1.PersistentVolume).Spec
}

// ValidateStatusUpdate accepts the controller's status.
func (VolumeStrategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name.
func (VolumeStrategy) SelectableFields(obj runtime.Object) fields.Set {
	return fields.Set{"metadata.name": obj.(*corev1.PersistentVolume).Name}
}

// ClassStrategy implements registry strategies for StorageClasses.
type ClassStrategy struct{}

// ClassResource returns the storageclasses resource of storage.k8s.io/v1.
func ClassResource() *registry.Resource {
	return &registry.Resource{
		Group: storagev1.GroupName, Version: "v1",
		Name: "storageclasses", SingularName: "storageclass", Kind: "StorageClass", ShortNames: []string{"sc"},
		New:      func() runtime.Object { return &storagev1.StorageClass{} },
		NewList:  func() runtime.Object { return &storagev1.StorageClassList{} },
		Strategy: ClassStrategy{},
	}
}

// PrepareForCreate defaults the reclaim policy (Delete) and binding mode
// (Immediate).
func (ClassStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	sc := obj.(*storagev1.StorageClass)
	if sc.ReclaimPolicy == nil {
		p := corev1.PersistentVolumeReclaimDelete
		sc.ReclaimPolicy = &p
	}
	if sc.VolumeBindingMode == nil {
		m := storagev1.VolumeBindingImmediate
		sc.VolumeBindingMode = &m
	}
}

// Validate is ValidateStorageClass.
func (ClassStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	sc := obj.(*storagev1.StorageClass)
	errs := apimachineryvalidation.ValidateObjectMeta(&sc.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if sc.Provisioner == "" {
		errs = append(errs, field.Required(field.NewPath("provisioner"), ""))
	}
	return errs
}

// PrepareForUpdate does nothing.
func (ClassStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate keeps the provisioner, parameters, reclaim policy and
// binding mode.
func (s ClassStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	sc, prev := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
	errs := s.Validate(ctx, obj)
	for _, f := range []struct {
		name     string
		now, was any
	}{{"provisioner", sc.Provisioner, prev.Provisioner}, {"parameters", sc.Parameters, prev.Parameters},
		{"reclaimPolicy", sc.ReclaimPolicy, prev.ReclaimPolicy}, {"volumeBindingMode", sc.VolumeBindingMode, prev.VolumeBindingMode}} {
		if !apiequality.Semantic.DeepEqual(f.now, f.was) {
			errs = append(errs, field.Forbidden(field.NewPath(f.name), "updates to "+f.name+" are forbidden."))
		}
	}
	return errs
}

// SelectableFields are metadata.name.
func (ClassStrategy) SelectableFields(obj runtime.Object) fields.Set {
	return fields.Set{"metadata.name": obj.(*storagev1.StorageClass).Name}
}
