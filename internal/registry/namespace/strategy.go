// Package namespace holds the API behaviour of Namespaces
// (pkg/registry/core/namespace): the Active phase and "kubernetes" finalizer
// on create, the kubernetes.io/metadata.name label, DNS-label names and the
// immortal system namespaces.
package namespace

import (
	"context"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Immortal namespaces may not be deleted.
var immortal = map[string]bool{metav1.NamespaceDefault: true, metav1.NamespaceSystem: true, metav1.NamespacePublic: true}

// System lists the namespaces the API server creates at start.
func System() []string {
	return []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease}
}

// Strategy implements registry strategies for namespaces.
type Strategy struct{}

// Resource returns the namespaces resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "namespaces", SingularName: "namespace", Kind: "Namespace", ShortNames: []string{"ns"},
		ReturnDeletedObject: true, HasStatus: true,
		New:      func() runtime.Object { return &corev1.Namespace{} },
		NewList:  func() runtime.Object { return &corev1.NamespaceList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate sets the Active phase and the kubernetes finalizer.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
	for _, f := range ns.Spec.Finalizers {
		if f == corev1.FinalizerKubernetes {
			return
		}
	}
	ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
}

// Canonicalize sets the immutable name label (after a generated name exists).
func (Strategy) Canonicalize(obj runtime.Object) {
	ns := obj.(*corev1.Namespace)
	if ns.Name == "" {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[corev1.LabelMetadataName] = ns.Name
}

// Validate checks a new namespace.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ns := obj.(*corev1.Namespace)
	errs := apimachineryvalidation.ValidateObjectMeta(&ns.ObjectMeta, false, apimachineryvalidation.NameIsDNSLabel, field.NewPath("metadata"))
	return append(errs, validateFinalizers(ns.Spec.Finalizers)...)
}

// standardFinalizers are the names spec.finalizers may hold without a
// domain (IsStandardFinalizerName).
var standardFinalizers = map[string]bool{
	string(corev1.FinalizerKubernetes): true, metav1.FinalizerOrphanDependents: true, metav1.FinalizerDeleteDependents: true,
}

// validateFinalizers is pkg/apis/core/validation's validateFinalizerName
// for each of spec.finalizers: a qualified name, and one without a domain
// only if it is standard.
func validateFinalizers(finalizers []corev1.FinalizerName) field.ErrorList {
	var errs field.ErrorList
	for i, f := range finalizers {
		p := field.NewPath("spec", "finalizers").Index(i)
		errs = append(errs, apimachineryvalidation.ValidateFinalizerName(string(f), p)...)
		if !strings.Contains(string(f), "/") && !standardFinalizers[string(f)] {
			errs = append(errs, field.Invalid(p, string(f), "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return errs
}

// PrepareForUpdate keeps spec.finalizers and status: they change only via
// the finalize and status subresources.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Spec.Finalizers = oldNS.Spec.Finalizers
	ns.Status = oldNS.Status
}

// ValidateUpdate checks an update.
func (Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// PrepareForStatusUpdate keeps everything but status.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	ns.Spec = oldNS.Spec
	ns.Labels, ns.Annotations = oldNS.Labels, oldNS.Annotations
}

// ValidateStatusUpdate checks a status write.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// BeforeDelete refuses to delete the system namespaces.
func (Strategy) BeforeDelete(ctx context.Context, obj runtime.Object) error {
	ns := obj.(*corev1.Namespace)
	if immortal[ns.Name] {
		return apierrors.NewForbidden(corev1.Resource("namespaces"), ns.Name, errors.New("this namespace may not be deleted"))
	}
	return nil
}

// MarkDeleting puts a namespace into the Terminating phase; it waits for
// its spec.finalizers (the namespace controller removes "kubernetes" once
// the content is gone).
func (Strategy) MarkDeleting(obj runtime.Object) bool {
	ns := obj.(*corev1.Namespace)
	ns.Status.Phase = corev1.NamespaceTerminating
	return len(ns.Spec.Finalizers) > 0
}

// Finalized reports whether a terminating namespace has no finalizers left.
func (Strategy) Finalized(obj runtime.Object) bool {
	return len(obj.(*corev1.Namespace).Spec.Finalizers) == 0
}

// PrepareForFinalize keeps everything but spec.finalizers.
func (Strategy) PrepareForFinalize(ctx context.Context, obj, old runtime.Object) {
	ns, oldNS := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	finalizers := ns.Spec.Finalizers
	*ns = *oldNS.DeepCopy()
	ns.Spec.Finalizers = finalizers
}

// ValidateFinalize checks the finalizers a finalize write sets
// (ValidateNamespaceFinalizeUpdate).
func (Strategy) ValidateFinalize(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateFinalizers(obj.(*corev1.Namespace).Spec.Finalizers)
}

// SelectableFields are metadata.name and status.phase, and the legacy
// name, which upstream keeps for backward compatibility
// (NamespaceToSelectableFields).
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	ns := obj.(*corev1.Namespace)
	return fields.Set{"metadata.name": ns.Name, "status.phase": string(ns.Status.Phase), "name": ns.Name}
}
