package pod

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Ephemeral containers (kubectl debug) are added to a running pod through
// the pods/ephemeralcontainers subresource only, never removed or changed,
// and may set only the fields upstream allows
// (validateEphemeralContainers in pkg/apis/core/validation).

// ephemeralAllowed are the JSON names of the EphemeralContainerCommon
// fields an ephemeral container may set.
var ephemeralAllowed = sets.New("name", "image", "command", "args", "workingDir", "envFrom", "env", "volumeMounts", "volumeDevices",
	"terminationMessagePath", "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty")

// validateEphemeralContainers checks spec.ephemeralContainers: names
// unique among all containers (names holds the others'), only allowed
// fields set, a target that is an init or regular container, and the
// checks every container gets.
func validateEphemeralContainers(ecs []corev1.EphemeralContainer, path *field.Path, names, volumes, targets sets.Set[string]) field.ErrorList {
	var errs field.ErrorList
	common := make([]corev1.Container, 0, len(ecs))
	for i := range ecs {
		idx := path.Index(i)
		v := reflect.ValueOf(ecs[i].EphemeralContainerCommon)
		cleared := corev1.Container(ecs[i].EphemeralContainerCommon)
		cv := reflect.ValueOf(&cleared).Elem()
		for f := 0; f < v.NumField(); f++ {
			jsonName, _, _ := strings.Cut(v.Type().Field(f).Tag.Get("json"), ",")
			if ephemeralAllowed.Has(jsonName) || v.Field(f).IsZero() {
				continue
			}
			errs = append(errs, field.Forbidden(idx.Child(jsonName), "cannot be set for an Ephemeral Container"))
			cv.Field(f).Set(reflect.Zero(v.Field(f).Type()))
		}
		for j, m := range ecs[i].VolumeMounts {
			if m.SubPath != "" {
				errs = append(errs, field.Forbidden(idx.Child("volumeMounts").Index(j).Child("subPath"), "cannot be set for an Ephemeral Container"))
			}
			if m.SubPathExpr != "" {
				errs = append(errs, field.Forbidden(idx.Child("volumeMounts").Index(j).Child("subPathExpr"), "cannot be set for an Ephemeral Container"))
			}
		}
		if t := ecs[i].TargetContainerName; t != "" && !targets.Has(t) {
			errs = append(errs, field.NotFound(idx.Child("targetContainerName"), t))
		}
		common = append(common, cleared)
	}
	// The checks of every container, on what is left.
	return append(errs, validateContainers(common, path, names, volumes, false)...)
}

// PrepareForEphemeralContainersUpdate keeps everything of the stored pod
// but its ephemeral containers (dropNonEphemeralContainerUpdates upstream),
// defaulted, and bumps generation when they change.
func (s *Strategy) PrepareForEphemeralContainersUpdate(ctx context.Context, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	ecs := pod.Spec.EphemeralContainers
	rv := pod.ResourceVersion
	*pod = *oldPod.DeepCopy()
	pod.ResourceVersion = rv
	pod.Spec.EphemeralContainers = ecs
	for i := range pod.Spec.EphemeralContainers {
		defaultContainer((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon), pod.Spec.HostNetwork, true)
	}
	if !apiequality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		pod.Generation = oldPod.Generation + 1
	}
}

// ValidateEphemeralContainersUpdate is ValidatePodEphemeralContainersUpdate:
// the whole spec stays valid, static pods take none, and existing ones are
// neither removed nor changed.
func (s *Strategy) ValidateEphemeralContainersUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	if isMirrorPod(oldPod) {
		return field.ErrorList{field.Forbidden(field.NewPath(""), "static pods do not support ephemeral containers")}
	}
	path := field.NewPath("spec", "ephemeralContainers")
	errs := validatePodSpec(&pod.Spec, field.NewPath("spec"))
	byName := map[string]*corev1.EphemeralContainer{}
	for i := range pod.Spec.EphemeralContainers {
		byName[pod.Spec.EphemeralContainers[i].Name] = &pod.Spec.EphemeralContainers[i]
	}
	for i := range oldPod.Spec.EphemeralContainers {
		was := &oldPod.Spec.EphemeralContainers[i]
		now, ok := byName[was.Name]
		switch {
		case !ok:
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be removed\n", was.Name)))
		case !apiequality.Semantic.DeepEqual(was, now):
			errs = append(errs, field.Forbidden(path, fmt.Sprintf("existing ephemeral containers %q may not be changed\n", was.Name)+cmp.Diff(was, now)))
		}
	}
	return errs
}
