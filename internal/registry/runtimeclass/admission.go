package runtimeclass

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
)

// Admission is the RuntimeClass admission plugin for new pods
// (plugin/pkg/admission/runtimeclass): a pod naming a RuntimeClass that
// does not exist is refused; one that exists gives the pod its overhead
// and its scheduling (node selector and tolerations); a pod with an
// overhead but no RuntimeClass is refused.
type Admission struct {
	RuntimeClasses *registry.Store
}

// Mutate resolves the pod's RuntimeClass and applies its overhead and
// scheduling.
func (a *Admission) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName == "" {
		return nil
	}
	forbidden := func(format string, args ...any) error {
		return apierrors.NewForbidden(res.GroupResource(), podName(pod), fmt.Errorf(format, args...))
	}
	got, err := a.RuntimeClasses.Get(ctx, "", *pod.Spec.RuntimeClassName)
	if apierrors.IsNotFound(err) {
		return forbidden("pod rejected: RuntimeClass %q not found", *pod.Spec.RuntimeClassName)
	}
	if err != nil {
		return err
	}
	rc := got.(*nodev1.RuntimeClass)
	if rc.Overhead != nil {
		switch {
		case pod.Spec.Overhead == nil:
			pod.Spec.Overhead = rc.Overhead.PodFixed.DeepCopy()
		case !apiequality.Semantic.DeepEqual(pod.Spec.Overhead, rc.Overhead.PodFixed):
			return forbidden("pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
		}
	}
	if s := rc.Scheduling; s != nil {
		for k, v := range s.NodeSelector {
			if cur, ok := pod.Spec.NodeSelector[k]; ok && cur != v {
				return forbidden("conflict: runtimeClass.scheduling.nodeSelector[%s] = %s; pod.spec.nodeSelector[%s] = %s", k, v, k, cur)
			}
			if pod.Spec.NodeSelector == nil {
				pod.Spec.NodeSelector = map[string]string{}
			}
			pod.Spec.NodeSelector[k] = v
		}
		for _, t := range s.Tolerations {
			dup := false
			for _, have := range pod.Spec.Tolerations {
				if apiequality.Semantic.DeepEqual(have, t) {
					dup = true
				}
			}
			if !dup {
				pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
			}
		}
	}
	return nil
}

// Validate refuses an overhead that the pod's RuntimeClass did not define.
func (a *Admission) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.Spec.Overhead == nil {
		return nil, nil
	}
	refuse := apierrors.NewForbidden(res.GroupResource(), podName(pod), fmt.Errorf("pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"))
	if pod.Spec.RuntimeClassName == nil || *pod.Spec.RuntimeClassName == "" {
		return nil, refuse
	}
	got, err := a.RuntimeClasses.Get(ctx, "", *pod.Spec.RuntimeClassName)
	if err != nil {
		return nil, err
	}
	if got.(*nodev1.RuntimeClass).Overhead == nil {
		return nil, refuse
	}
	return nil, nil
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName
}
