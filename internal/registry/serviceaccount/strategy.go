// Package serviceaccount holds the API behaviour of core/v1
// ServiceAccounts (pkg/registry/core/serviceaccount).
package serviceaccount

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// DefaultName is the service account every namespace gets and pods run
// as unless they name another.
const DefaultName = "default"

// Strategy implements registry strategies for service accounts.
type Strategy struct{}

// Resource returns the serviceaccounts resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "serviceaccounts", SingularName: "serviceaccount", Kind: "ServiceAccount", ShortNames: []string{"sa"}, Namespaced: true,
		New:      func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList:  func() runtime.Object { return &corev1.ServiceAccountList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate does nothing.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate checks a new service account.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	sa := obj.(*corev1.ServiceAccount)
	return apimachineryvalidation.ValidateObjectMeta(&sa.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// PrepareForUpdate does nothing.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate checks an update.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	sa, prev := obj.(*corev1.ServiceAccount), old.(*corev1.ServiceAccount)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&sa.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	return append(errs, s.Validate(ctx, obj)...)
}

// SelectableFields are the metadata fields.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	sa := obj.(*corev1.ServiceAccount)
	return fields.Set{"metadata.name": sa.Name, "metadata.namespace": sa.Namespace}
}
