package pod

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/qos"
)

// The pods/resize subresource (in-place pod resize, KEP 1287): a write
// there changes only the CPU and memory resources (and resizePolicy) of
// the regular containers and sidecars; the kubelet then allocates and
// actuates them.

// PrepareForResize keeps everything of the stored pod but the resources
// and resize policies of its containers and init containers, matched by
// index (dropNonResizeUpdates upstream), defaulted, and bumps generation
// when they change. Containers added, removed, renamed or reordered are
// kept as sent, for validation to refuse.
func (s *Strategy) PrepareForResize(ctx context.Context, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	rv := pod.ResourceVersion
	next := oldPod.DeepCopy()
	next.ResourceVersion = rv
	merge := func(dst *[]corev1.Container, src []corev1.Container) {
		if len(*dst) != len(src) {
			*dst = src
			return
		}
		for i := range src {
			if (*dst)[i].Name != src[i].Name {
				*dst = src
				return
			}
		}
		for i := range src {
			(*dst)[i].Resources = *src[i].Resources.DeepCopy()
			(*dst)[i].ResizePolicy = append([]corev1.ContainerResizePolicy(nil), src[i].ResizePolicy...)
		}
	}
	merge(&next.Spec.Containers, pod.Spec.Containers)
	merge(&next.Spec.InitContainers, pod.Spec.InitContainers)
	*pod = *next
	SetDefaults(pod)
	if !apiequality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		pod.Generation = oldPod.Generation + 1
	}
}

// ValidateResize is ValidatePodResize: the spec stays valid; pods with
// pod-level resources, static and Windows pods cannot be resized; the QoS
// class may not change; a node that does not report container resources
// cannot resize; containers may not be added, removed, renamed or
// reordered; requests and limits may not be removed; only cpu and memory
// of regular containers and sidecars may change (resizePolicy is
// immutable).
func (s *Strategy) ValidateResize(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	specPath := field.NewPath("spec")
	errs := validatePodSpec(&pod.Spec, specPath)
	switch {
	case oldPod.Spec.Resources != nil || pod.Spec.Resources != nil:
		return append(errs, field.Forbidden(field.NewPath(""), "pods with pod-level resources cannot be resized"))
	case isMirrorPod(oldPod):
		return append(errs, field.Forbidden(field.NewPath(""), "static pods cannot be resized"))
	case oldPod.Spec.OS != nil && oldPod.Spec.OS.Name == corev1.Windows:
		return append(errs, field.Forbidden(field.NewPath(""), "windows pods cannot be resized"))
	}
	if qos.PodQOSClass(oldPod) != qos.ComputePodQOS(pod) {
		errs = append(errs, field.Invalid(specPath, pod.Status.QOSClass, "Pod QOS Class may not change as a result of resizing"))
	}
	if !resizeSupported(oldPod) {
		errs = append(errs, field.Forbidden(specPath, "Pod running on node without support for resize"))
	}
	if order := validateResizeOrdering(pod, oldPod, specPath); len(order) > 0 {
		return append(errs, order...)
	}
	for i := range oldPod.Spec.InitContainers {
		if isSidecar(&oldPod.Spec.InitContainers[i]) {
			errs = append(errs, validateContainerResize(&pod.Spec.InitContainers[i].Resources, &oldPod.Spec.InitContainers[i].Resources,
				specPath.Child("initContainers").Index(i).Child("resources"))...)
		}
	}
	for i := range oldPod.Spec.Containers {
		errs = append(errs, validateContainerResize(&pod.Spec.Containers[i].Resources, &oldPod.Spec.Containers[i].Resources,
			specPath.Child("containers").Index(i).Child("resources"))...)
	}
	// Only cpu and memory may change: with those put back as they were,
	// each container must be what it was.
	for i := range oldPod.Spec.Containers {
		if !sameButCPUMemory(&pod.Spec.Containers[i], &oldPod.Spec.Containers[i]) {
			errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources are mutable"))
		}
	}
	for i := range oldPod.Spec.InitContainers {
		prev, next := &oldPod.Spec.InitContainers[i], &pod.Spec.InitContainers[i]
		switch {
		case !isSidecar(prev) && !apiequality.Semantic.DeepEqual(prev, next):
			errs = append(errs, field.Forbidden(specPath, "resources for non-sidecar init containers are immutable"))
		case isSidecar(prev) && !sameButCPUMemory(next, prev):
			errs = append(errs, field.Forbidden(specPath, "only cpu and memory resources for sidecar containers are mutable"))
		}
	}
	return errs
}

// resizeSupported is isPodResizeRequestSupported: the node reports the
// resources of the pod's running containers (a kubelet too old to resize
// does not); a pod with none running can be resized.
func resizeSupported(pod *corev1.Pod) bool {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil {
			return cs.Resources != nil
		}
	}
	return true
}

// validateResizeOrdering refuses a resize that adds, removes, renames or
// reorders containers.
func validateResizeOrdering(pod, oldPod *corev1.Pod, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, l := range []struct {
		field      string
		next, prev []corev1.Container
	}{
		{"containers", pod.Spec.Containers, oldPod.Spec.Containers},
		{"initContainers", pod.Spec.InitContainers, oldPod.Spec.InitContainers},
	} {
		path := specPath.Child(l.field)
		if len(l.next) != len(l.prev) {
			errs = append(errs, field.Forbidden(path, l.field+" may not be added or removed on resize"))
			continue
		}
		for i := range l.prev {
			if l.next[i].Name != l.prev[i].Name {
				errs = append(errs, field.Forbidden(path.Index(i).Child("name"), l.field+" may not be renamed or reordered on resize"))
			}
		}
	}
	return errs
}

// validateContainerResize refuses removing any request or limit.
func validateContainerResize(next, prev *corev1.ResourceRequirements, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name := range prev.Requests {
		if _, ok := next.Requests[name]; !ok {
			errs = append(errs, field.Forbidden(path.Child("requests"), "resource requests cannot be removed"))
			break
		}
	}
	for name := range prev.Limits {
		if _, ok := next.Limits[name]; !ok {
			errs = append(errs, field.Forbidden(path.Child("limits"), "resource limits cannot be removed"))
			break
		}
	}
	return errs
}

// sameButCPUMemory reports whether next is prev with at most its cpu and
// memory requests and limits changed (or added).
func sameButCPUMemory(next, prev *corev1.Container) bool {
	a := next.DeepCopy()
	for _, l := range []struct {
		dst *corev1.ResourceList
		src corev1.ResourceList
	}{
		{&a.Resources.Requests, prev.Resources.Requests}, {&a.Resources.Limits, prev.Resources.Limits},
	} {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := l.src[name]; ok {
				(*l.dst)[name] = q
			} else {
				delete(*l.dst, name)
			}
		}
		if len(*l.dst) == 0 && l.src == nil {
			*l.dst = nil
		}
	}
	return apiequality.Semantic.DeepEqual(a, prev)
}

// isSidecar reports whether an init container is a sidecar
// (restartPolicy: Always).
func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
