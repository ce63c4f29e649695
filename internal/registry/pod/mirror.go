package pod

import (
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Mirror pods are the API's view of a kubelet's static pods: they carry
// the kubernetes.io/config.mirror annotation, which may never be added,
// changed or removed by an update (ValidatePodSpecificAnnotationUpdates),
// and may not reference service accounts or secrets (the ServiceAccount
// admission plugin), since nothing in the API granted them.

func isMirrorPod(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// validateMirrorAnnotation refuses an update that touches the mirror
// annotation.
func validateMirrorAnnotation(pod, old *corev1.Pod) field.ErrorList {
	p := field.NewPath("metadata", "annotations").Key(corev1.MirrorPodAnnotationKey)
	v, has := pod.Annotations[corev1.MirrorPodAnnotationKey]
	oldV, had := old.Annotations[corev1.MirrorPodAnnotationKey]
	switch {
	case had && (!has || v != oldV):
		return field.ErrorList{field.Forbidden(p, "may not remove or update mirror pod annotation")}
	case !had && has:
		return field.ErrorList{field.Forbidden(p, "may not add mirror pod annotation")}
	}
	return nil
}

// admitMirrorPod is the ServiceAccount plugin's check of a mirror pod.
func admitMirrorPod(pod *corev1.Pod) error {
	var msg string
	switch {
	case pod.Spec.ServiceAccountName != "":
		msg = "a mirror pod may not reference service accounts"
	case referencesSecrets(pod):
		msg = "a mirror pod may not reference secrets"
	case projectsTokens(pod):
		msg = "a mirror pod may not use ServiceAccountToken volume projections"
	default:
		return nil
	}
	return apierrors.NewForbidden(corev1.Resource("pods"), pod.Name, errors.New(msg))
}

func referencesSecrets(pod *corev1.Pod) bool {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		return true
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			return true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					return true
				}
			}
		}
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil {
					return true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					return true
				}
			}
		}
	}
	return false
}

func projectsTokens(pod *corev1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					return true
				}
			}
		}
	}
	return false
}
