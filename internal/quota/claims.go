package quota

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	volumehelpers "k8s.io/component-helpers/storage/volume"
)

// What a PersistentVolumeClaim charges (pkg/quota/v1/evaluator/core's
// persistent_volume_claims.go).

const (
	// storageClassSuffix joins a class name and the resource charged to
	// it: <class>.storageclass.storage.k8s.io/requests.storage.
	storageClassSuffix = ".storageclass.storage.k8s.io/"
)

// claimKeys are the quota keys the claim evaluator tracks, besides the
// per-class ones and count/persistentvolumeclaims.
var claimKeys = map[corev1.ResourceName]bool{
	corev1.ResourcePersistentVolumeClaims: true, corev1.ResourceRequestsStorage: true,
}

// claimUsage is the claim evaluator's Usage: the claim counts once
// (persistentvolumeclaims, count/persistentvolumeclaims and, with a class,
// <class>.storageclass.storage.k8s.io/persistentvolumeclaims), and its
// storage as requests.storage and <class>.storageclass.storage.k8s.io/
// requests.storage: the request, or what was allocated when that is more
// (an expansion that failed still charges), rounded up to whole bytes.
func claimUsage(pvc *corev1.PersistentVolumeClaim) corev1.ResourceList {
	one := resource.MustParse("1")
	u := corev1.ResourceList{
		corev1.ResourcePersistentVolumeClaims:   one,
		countName("persistentvolumeclaims", ""): one,
	}
	class := volumehelpers.GetPersistentVolumeClaimClass(pvc)
	if class != "" {
		u[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one
	}
	requested, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return u
	}
	storage := requested.DeepCopy()
	if allocated, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(storage) > 0 {
		storage = allocated.DeepCopy()
	}
	storage.RoundUp(0)
	u[corev1.ResourceRequestsStorage] = storage
	if class != "" {
		u[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = storage
	}
	return u
}

// claimMatchesScopes reports whether a quota's scopes select the claim:
// only the VolumeAttributesClass scope selects claims, by the classes the
// claim asks for, has, or is being moved to.
func claimMatchesScopes(q *corev1.ResourceQuota, pvc *corev1.PersistentVolumeClaim) bool {
	for _, sel := range scopeSelectors(q) {
		if !claimMatchesScope(sel, pvc) {
			return false
		}
	}
	return true
}

func claimMatchesScope(sel corev1.ScopedResourceSelectorRequirement, pvc *corev1.PersistentVolumeClaim) bool {
	if sel.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false
	}
	var classes []string
	if c := pvc.Spec.VolumeAttributesClassName; c != nil && *c != "" {
		classes = append(classes, *c)
	}
	if c := pvc.Status.CurrentVolumeAttributesClassName; c != nil && *c != "" {
		classes = append(classes, *c)
	}
	if m := pvc.Status.ModifyVolumeStatus; m != nil && m.TargetVolumeAttributesClassName != "" {
		classes = append(classes, m.TargetVolumeAttributesClassName)
	}
	if sel.Operator == corev1.ScopeSelectorOpExists {
		return len(classes) > 0
	}
	// As a label requirement on {VolumeAttributesClass: class}, for any of
	// the claim's classes.
	for _, c := range classes {
		in := false
		for _, v := range sel.Values {
			in = in || v == c
		}
		switch sel.Operator {
		case corev1.ScopeSelectorOpIn:
			if in {
				return true
			}
		case corev1.ScopeSelectorOpNotIn:
			if !in {
				return true
			}
		}
	}
	return false
}
