// Package controllerrevision holds the API behaviour of apps/v1
// ControllerRevisions (pkg/registry/apps/controllerrevision): immutable
// snapshots of a DaemonSet's (or StatefulSet's) template, numbered, that
// `kubectl rollout history` and `undo` read.
package controllerrevision

import (
	"context"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for ControllerRevisions.
type Strategy struct{}

// Resource returns the controllerrevisions resource of apps/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: appsv1.GroupName, Version: "v1",
		Name: "controllerrevisions", SingularName: "controllerrevision", Kind: "ControllerRevision",
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList:    func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Strategy:   Strategy{},
	}
}

// PrepareForCreate does nothing: revisions are stored as sent.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate is ValidateControllerRevisionCreate.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	cr := obj.(*appsv1.ControllerRevision)
	errs := apimachineryvalidation.ValidateObjectMeta(&cr.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	var data map[string]any
	switch {
	case len(cr.Data.Raw) == 0:
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	case json.Unmarshal(cr.Data.Raw, &data) != nil:
		errs = append(errs, field.Invalid(field.NewPath("data"), string(cr.Data.Raw), "data must be a valid JSON object"))
	}
	return append(errs, apimachineryvalidation.ValidateNonnegativeField(cr.Revision, field.NewPath("revision"))...)
}

// PrepareForUpdate does nothing.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate keeps the data: it is immutable.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	cr, prev := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
	errs := s.Validate(ctx, obj)
	if !apiequality.Semantic.DeepEqual(cr.Data.Raw, prev.Data.Raw) {
		errs = append(errs, field.Invalid(field.NewPath("data"), "", "field is immutable"))
	}
	return errs
}

// SelectableFields are metadata.name and metadata.namespace.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	cr := obj.(*appsv1.ControllerRevision)
	return fields.Set{"metadata.name": cr.Name, "metadata.namespace": cr.Namespace}
}
