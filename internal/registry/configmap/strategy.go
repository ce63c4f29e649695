// Package configmap holds the API behaviour of core/v1 ConfigMaps
// (pkg/registry/core/configmap and ValidateConfigMap in
// pkg/apis/core/validation).
package configmap

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// MaxSize is the most bytes a ConfigMap's or Secret's data may hold
// (core.MaxSecretSize, 1 MiB: what etcd takes comfortably).
const MaxSize = 1 * 1024 * 1024

// ImmutableMessage is what upstream says about a change to an immutable
// object's data.
const ImmutableMessage = "field is immutable when `immutable` is set"

// Strategy implements registry strategies for config maps.
type Strategy struct{}

// Resource returns the configmaps resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "configmaps", SingularName: "configmap", Kind: "ConfigMap", ShortNames: []string{"cm"}, Namespaced: true,
		New:      func() runtime.Object { return &corev1.ConfigMap{} },
		NewList:  func() runtime.Object { return &corev1.ConfigMapList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate does nothing: config maps are stored as sent.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate checks a new config map.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	cm := obj.(*corev1.ConfigMap)
	errs := apimachineryvalidation.ValidateObjectMeta(&cm.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	size := 0
	for key, value := range cm.Data {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, msg))
		}
		if _, dup := cm.BinaryData[key]; dup {
			errs = append(errs, field.Invalid(field.NewPath("data").Key(key), key, "duplicate of key present in binaryData"))
		}
		size += len(value)
	}
	for key, value := range cm.BinaryData {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(key), key, msg))
		}
		size += len(value)
	}
	if size > MaxSize {
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxSize))
	}
	return errs
}

// PrepareForUpdate does nothing.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate checks an update: an immutable config map keeps its data
// and stays immutable.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	cm, prev := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&cm.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	if prev.Immutable != nil && *prev.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), ImmutableMessage))
		}
		if !apiequality.Semantic.DeepEqual(cm.Data, prev.Data) {
			errs = append(errs, field.Forbidden(field.NewPath("data"), ImmutableMessage))
		}
		if !apiequality.Semantic.DeepEqual(cm.BinaryData, prev.BinaryData) {
			errs = append(errs, field.Forbidden(field.NewPath("binaryData"), ImmutableMessage))
		}
	}
	return append(errs, s.Validate(ctx, obj)...)
}

// SelectableFields are the metadata fields.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	cm := obj.(*corev1.ConfigMap)
	return fields.Set{"metadata.name": cm.Name, "metadata.namespace": cm.Namespace}
}
