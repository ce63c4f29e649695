// Package workload holds what the API behaviour of the workload kinds
// (apps/v1 ReplicaSets and Deployments) shares, after
// pkg/apis/apps/validation: the selector and its pod template, the
// replica count, and the scale subresource's view of an object.
package workload

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry/pod"
)

// ValidateSelectorAndTemplate checks a workload's selector (required, not
// empty, valid) and its pod template (valid, with labels the selector
// matches, restartPolicy Always and no activeDeadlineSeconds), with
// upstream's messages; kind names the kind in "empty selector is invalid
// for <kind>" (a ReplicaSet's says deployment, as upstream).
func ValidateSelectorAndTemplate(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, kind string, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	sp := spec.Child("selector")
	if sel == nil {
		errs = append(errs, field.Required(sp, ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, sp)...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp, sel, fmt.Sprintf("empty selector is invalid for %s", kind)))
		}
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return append(errs, field.Invalid(sp, sel, "invalid label selector"))
	}
	tp := spec.Child("template")
	if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, pod.ValidateTemplate(t, tp)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"))
	}
	return errs
}

// ValidateReplicas checks spec.replicas and spec.minReadySeconds.
func ValidateReplicas(replicas *int32, minReadySeconds int32, spec *field.Path) field.ErrorList {
	var errs field.ErrorList
	if replicas != nil {
		errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(*replicas), spec.Child("replicas"))...)
	}
	return append(errs, apimachineryvalidation.ValidateNonnegativeField(int64(minReadySeconds), spec.Child("minReadySeconds"))...)
}

// ValidateSelectorUpdate keeps the selector: it is immutable in apps/v1.
func ValidateSelectorUpdate(sel, old *metav1.LabelSelector, spec *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(sel, old, spec.Child("selector"))
}

// SelectorString is the selector as the scale subresource reports it (""
// for one that is not valid).
func SelectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return ""
	}
	return s.String()
}
