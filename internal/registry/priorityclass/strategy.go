// Package priorityclass holds the API behaviour of scheduling.k8s.io/v1
// PriorityClasses (pkg/registry/scheduling/priorityclass and
// pkg/apis/scheduling/validation) and the Priority admission plugin that
// gives each new pod the priority of its class
// (plugin/pkg/admission/priority). The two system classes,
// system-node-critical and system-cluster-critical, always exist.
package priorityclass

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Values of pkg/apis/scheduling/types.go.
const (
	// SystemNodeCritical and SystemClusterCritical are the system
	// classes' names.
	SystemNodeCritical    = "system-node-critical"
	SystemClusterCritical = "system-cluster-critical"
	// SystemCriticalPriority is the lowest system priority;
	// system-node-critical is 1000 above it.
	SystemCriticalPriority = 2000000000
	// HighestUserDefinablePriority is the most a user class may have.
	HighestUserDefinablePriority = 1000000000
	systemPrefix                 = "system-"
)

// SystemClasses are the system priority classes, as the API server makes
// them at start.
func SystemClasses() []*schedulingv1.PriorityClass {
	preempt := corev1.PreemptLowerPriority
	return []*schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: SystemNodeCritical}, Value: SystemCriticalPriority + 1000, PreemptionPolicy: &preempt,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: metav1.ObjectMeta{Name: SystemClusterCritical}, Value: SystemCriticalPriority, PreemptionPolicy: &preempt,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	}
}

// isKnownSystemClass is IsKnownSystemPriorityClass: nil when the name,
// value and globalDefault are those of a system class.
func isKnownSystemClass(name string, value int32, globalDefault bool) error {
	for _, sc := range SystemClasses() {
		if sc.Name != name {
			continue
		}
		if sc.Value != value {
			return fmt.Errorf("value of %v PriorityClass must be %v", name, sc.Value)
		}
		if sc.GlobalDefault != globalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be %v", name, sc.GlobalDefault)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", name)
}

// Strategy implements registry strategies for priority classes.
type Strategy struct{}

// Resource returns the priorityclasses resource of scheduling.k8s.io/v1.
func Resource() *registry.Resource {
	return &registry.Resource{
		Group: schedulingv1.GroupName, Version: "v1",
		Name: "priorityclasses", SingularName: "priorityclass", Kind: "PriorityClass", ShortNames: []string{"pc"},
		New:      func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList:  func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate defaults preemptionPolicy to PreemptLowerPriority.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	setDefaults(obj.(*schedulingv1.PriorityClass))
}

func setDefaults(pc *schedulingv1.PriorityClass) {
	if pc.PreemptionPolicy == nil {
		p := corev1.PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

// Validate is ValidatePriorityClass: a DNS subdomain name; a name with
// the system- prefix only for the system classes as they are; at most
// HighestUserDefinablePriority otherwise; a known preemption policy.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	pc := obj.(*schedulingv1.PriorityClass)
	errs := apimachineryvalidation.ValidateObjectMeta(&pc.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if strings.HasPrefix(pc.Name, systemPrefix) {
		if err := isKnownSystemClass(pc.Name, pc.Value, pc.GlobalDefault); err != nil {
			errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"),
				"priority class names with '"+systemPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", HighestUserDefinablePriority)))
	}
	if p := pc.PreemptionPolicy; p != nil && *p != corev1.PreemptLowerPriority && *p != corev1.PreemptNever {
		errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), *p, []string{string(corev1.PreemptLowerPriority), string(corev1.PreemptNever)}))
	}
	return errs
}

// PrepareForUpdate defaults as on create.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	setDefaults(obj.(*schedulingv1.PriorityClass))
}

// ValidateUpdate is ValidatePriorityClassUpdate: value and preemption
// policy are immutable.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pc, prev := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&pc.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	if pc.Value != prev.Value {
		errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(pc.PreemptionPolicy, prev.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	return append(errs, s.Validate(ctx, obj)...)
}

// BeforeDelete refuses to delete a system class.
func (Strategy) BeforeDelete(ctx context.Context, obj runtime.Object) error {
	pc := obj.(*schedulingv1.PriorityClass)
	if isKnownSystemClass(pc.Name, pc.Value, pc.GlobalDefault) == nil {
		return apierrors.NewForbidden(schedulingv1.Resource("priorityclasses"), pc.Name, errors.New("this is a system priority class and cannot be deleted"))
	}
	return nil
}

// SelectableFields are metadata.name only.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	return fields.Set{"metadata.name": obj.(*schedulingv1.PriorityClass).Name}
}
