package priorityclass

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
)

// Admission is the Priority admission plugin: a new pod gets the value
// and preemption policy of its priorityClassName (of the global default
// class when it names none, else priority 0); a class that does not
// exist, or a priority or preemption policy of the pod's own that differs
// from its class's, refuses the pod. On PriorityClasses it keeps a single
// global default.
type Admission struct {
	PriorityClasses *registry.Store
}

// Mutate resolves a new pod's priority, or checks a new class.
func (a *Admission) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil
	}
	forbidden := func(format string, args ...any) error {
		return apierrors.NewForbidden(res.GroupResource(), objectName(pod.Name, pod.GenerateName), fmt.Errorf(format, args...))
	}
	var priority int32
	var policy *corev1.PreemptionPolicy
	if pod.Spec.PriorityClassName == "" {
		def, err := a.globalDefault(ctx)
		if err != nil {
			return fmt.Errorf("failed to get default priority class: %w", err)
		}
		if def != nil {
			pod.Spec.PriorityClassName, priority, policy = def.Name, def.Value, def.PreemptionPolicy
		} else {
			p := corev1.PreemptLowerPriority
			policy = &p
		}
	} else {
		got, err := a.PriorityClasses.Get(ctx, "", pod.Spec.PriorityClassName)
		if apierrors.IsNotFound(err) {
			return forbidden("no PriorityClass with name %v was found", pod.Spec.PriorityClassName)
		}
		if err != nil {
			return fmt.Errorf("failed to get PriorityClass with name %s: %w", pod.Spec.PriorityClassName, err)
		}
		pc := got.(*schedulingv1.PriorityClass)
		priority, policy = pc.Value, pc.PreemptionPolicy
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != priority {
		return forbidden("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, priority)
	}
	pod.Spec.Priority = &priority
	if policy != nil {
		if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy != *policy {
			return forbidden("the string value of PreemptionPolicy (%s) must not be provided in pod spec; priority admission controller computed %s from the given PriorityClass name", *pod.Spec.PreemptionPolicy, *policy)
		}
		p := *policy
		pod.Spec.PreemptionPolicy = &p
	}
	return nil
}

// Validate refuses a second global default class.
func (a *Admission) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok {
		return nil, nil
	}
	return nil, a.checkDefault(ctx, res, pc)
}

// ValidateEveryUpdate refuses to make a class the global default while
// another one is.
func (a *Admission) ValidateEveryUpdate(ctx context.Context, res *registry.Resource, ns, subresource string, obj, old runtime.Object) error {
	pc, ok := obj.(*schedulingv1.PriorityClass)
	if !ok || subresource != "" {
		return nil
	}
	return a.checkDefault(ctx, res, pc)
}

func (a *Admission) checkDefault(ctx context.Context, res *registry.Resource, pc *schedulingv1.PriorityClass) error {
	if !pc.GlobalDefault {
		return nil
	}
	def, err := a.globalDefault(ctx)
	if err != nil {
		return fmt.Errorf("failed to get default priority class: %w", err)
	}
	if def != nil && def.Name != pc.Name {
		return apierrors.NewForbidden(res.GroupResource(), objectName(pc.Name, pc.GenerateName),
			fmt.Errorf("PriorityClass %v is already marked as default. Only one default can exist", def.Name))
	}
	return nil
}

// globalDefault is the global default class (the lowest valued one, if a
// race made several), or nil.
func (a *Admission) globalDefault(ctx context.Context) (*schedulingv1.PriorityClass, error) {
	list, err := a.PriorityClasses.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out *schedulingv1.PriorityClass
	for i := range list.(*schedulingv1.PriorityClassList).Items {
		pc := &list.(*schedulingv1.PriorityClassList).Items[i]
		if pc.GlobalDefault && (out == nil || pc.Value < out.Value) {
			out = pc
		}
	}
	return out, nil
}

func objectName(name, generateName string) string {
	if name != "" {
		return name
	}
	return generateName
}
