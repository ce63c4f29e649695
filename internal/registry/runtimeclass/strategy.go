// Package runtimeclass holds the API behaviour of node.k8s.io/v1
// RuntimeClasses (pkg/registry/node/runtimeclass and
// pkg/apis/node/validation): a cluster-wide name for a runtime handler of
// the nodes (runc, crun), with the pod overhead and scheduling it implies.
package runtimeclass

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for runtime classes.
type Strategy struct{}

// Resource returns the runtimeclasses resource of node.k8s.io/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: nodev1.GroupName, Version: "v1",
		Name: "runtimeclasses", SingularName: "runtimeclass", Kind: "RuntimeClass",
		New:      func() runtime.Object { return &nodev1.RuntimeClass{} },
		NewList:  func() runtime.Object { return &nodev1.RuntimeClassList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate does nothing: runtime classes are stored as sent.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate is ValidateRuntimeClass: a DNS subdomain name, a handler that
// is a DNS label, non-negative overhead of known resources, and valid
// scheduling labels and tolerations.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	rc := obj.(*nodev1.RuntimeClass)
	errs := apimachineryvalidation.ValidateObjectMeta(&rc.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	for _, msg := range apimachineryvalidation.NameIsDNSLabel(rc.Handler, false) {
		errs = append(errs, field.Invalid(field.NewPath("handler"), rc.Handler, msg))
	}
	if rc.Overhead != nil {
		path := field.NewPath("overhead", "podFixed")
		for name, q := range rc.Overhead.PodFixed {
			p := path.Key(string(name))
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory && name != corev1.ResourceEphemeralStorage {
				for _, msg := range validation.IsQualifiedName(string(name)) {
					errs = append(errs, field.Invalid(p, name, msg))
				}
			}
			if q.Sign() < 0 {
				errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
			}
		}
	}
	if s := rc.Scheduling; s != nil {
		errs = append(errs, metav1validation.ValidateLabels(s.NodeSelector, field.NewPath("scheduling", "nodeSelector"))...)
		for i, t := range s.Tolerations {
			p := field.NewPath("scheduling", "tolerations").Index(i)
			if t.Key != "" {
				for _, msg := range validation.IsQualifiedName(t.Key) {
					errs = append(errs, field.Invalid(p.Child("key"), t.Key, msg))
				}
			}
			if t.Operator == corev1.TolerationOpExists && t.Value != "" {
				errs = append(errs, field.Invalid(p.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		}
	}
	return errs
}

// PrepareForUpdate does nothing.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate keeps the handler: it is immutable.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	rc, prev := obj.(*nodev1.RuntimeClass), old.(*nodev1.RuntimeClass)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&rc.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(rc.Handler, prev.Handler, field.NewPath("handler"))...)
	if rc.Overhead != nil || prev.Overhead != nil {
		errs = append(errs, apimachineryvalidation.ValidateImmutableField(rc.Overhead, prev.Overhead, field.NewPath("overhead"))...)
	}
	return append(errs, s.Validate(ctx, obj)...)
}

// SelectableFields are metadata.name only.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	return fields.Set{"metadata.name": obj.(*nodev1.RuntimeClass).Name}
}
