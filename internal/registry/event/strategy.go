// Package event holds the API behaviour of core/v1 Events
// (pkg/registry/core/event).
package event

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for events.
type Strategy struct{}

// Resource returns the events resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "events", SingularName: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true,
		New:      func() runtime.Object { return &corev1.Event{} },
		NewList:  func() runtime.Object { return &corev1.EventList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate does nothing: events are stored as sent.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate checks a new event.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	ev := obj.(*corev1.Event)
	errs := apimachineryvalidation.ValidateObjectMeta(&ev.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if ev.InvolvedObject.Namespace != "" && ev.InvolvedObject.Namespace != ev.Namespace {
		errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), ev.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	return errs
}

// PrepareForUpdate does nothing.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// ValidateUpdate checks an update.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// SelectableFields are the event fields upstream lets select on.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	ev := obj.(*corev1.Event)
	src := ev.Source.Component
	if src == "" {
		src = ev.ReportingController
	}
	return fields.Set{
		"metadata.name":                  ev.Name,
		"metadata.namespace":             ev.Namespace,
		"involvedObject.kind":            ev.InvolvedObject.Kind,
		"involvedObject.namespace":       ev.InvolvedObject.Namespace,
		"involvedObject.name":            ev.InvolvedObject.Name,
		"involvedObject.uid":             string(ev.InvolvedObject.UID),
		"involvedObject.apiVersion":      ev.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": ev.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       ev.InvolvedObject.FieldPath,
		"reason":                         ev.Reason,
		"reportingComponent":             ev.ReportingController,
		"source":                         src,
		"type":                           ev.Type,
	}
}
