// Package node holds the API behaviour of Nodes (pkg/registry/core/node).
// peapod registers exactly one: the host it runs on.
package node

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for nodes.
type Strategy struct{}

// Resource returns the nodes resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "nodes", SingularName: "node", Kind: "Node", ShortNames: []string{"no"}, HasStatus: true,
		New:      func() runtime.Object { return &corev1.Node{} },
		NewList:  func() runtime.Object { return &corev1.NodeList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate keeps status: the node agent registers with it.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// Validate checks a new node.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	n := obj.(*corev1.Node)
	return apimachineryvalidation.ValidateObjectMeta(&n.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
}

// PrepareForUpdate keeps the stored status.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.Node).Status = old.(*corev1.Node).Status
}

// ValidateUpdate checks an update.
func (Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// PrepareForStatusUpdate keeps the stored spec.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.Node).Spec = old.(*corev1.Node).Spec
}

// ValidateStatusUpdate checks a status write.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return nil
}

// SelectableFields are metadata.name and spec.unschedulable.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	n := obj.(*corev1.Node)
	return fields.Set{"metadata.name": n.Name, "spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
}
