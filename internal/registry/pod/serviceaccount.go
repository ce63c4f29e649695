package pod

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

// What the ServiceAccount admission plugin (plugin/pkg/admission/
// serviceaccount) mounts into every container of a pod whose service
// account token is automounted.
const (
	// ServiceAccountMountPath is where the token, ca.crt and namespace are.
	ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// RootCAConfigMap is the ConfigMap every namespace holds with the
	// cluster CA (the root-ca-cert-publisher's).
	RootCAConfigMap = "kube-root-ca.crt"
	// tokenVolumePrefix names the volume: kube-api-access-<5 random>.
	tokenVolumePrefix = "kube-api-access-"
	// tokenExpirationSeconds is the plugin's 1 h plus 7 s, which tells
	// the token issuer the request came from the plugin's volume.
	tokenExpirationSeconds = 3607
)

// ServiceAccountGetter reads a service account.
type ServiceAccountGetter func(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error)

// AdmitCreate is the ServiceAccount admission plugin: the pod's service
// account must exist; its token is mounted unless the pod or the service
// account turns automounting off; the account's imagePullSecrets are used
// when the pod names none.
func (s *Strategy) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	pod := obj.(*corev1.Pod)
	if isMirrorPod(pod) {
		return admitMirrorPod(pod)
	}
	if s.ServiceAccounts == nil {
		return nil
	}
	name := pod.Spec.ServiceAccountName
	if name == "" {
		name = pod.Spec.DeprecatedServiceAccount
	}
	if name == "" {
		name = "default"
	}
	pod.Spec.ServiceAccountName = name
	sa, err := s.ServiceAccounts(ctx, pod.Namespace, name)
	if apierrors.IsNotFound(err) {
		// Upstream's lister names the resource in the singular.
		err = fmt.Errorf("serviceaccount %q not found", name)
	}
	if err != nil {
		// Before generateName is applied upstream names the prefix.
		podName := pod.Name
		if podName == "" {
			podName = pod.GenerateName
		}
		return apierrors.NewForbidden(corev1.Resource("pods"), podName,
			fmt.Errorf("error looking up service account %s/%s: %w", pod.Namespace, name, err))
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		for _, ref := range sa.ImagePullSecrets {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: ref.Name})
		}
	}
	if automount(pod, sa) {
		mountServiceAccountToken(pod)
	}
	return nil
}

// automount: the pod's setting wins, then the service account's; on by
// default.
func automount(pod *corev1.Pod, sa *corev1.ServiceAccount) bool {
	if pod.Spec.AutomountServiceAccountToken != nil {
		return *pod.Spec.AutomountServiceAccountToken
	}
	if sa.AutomountServiceAccountToken != nil {
		return *sa.AutomountServiceAccountToken
	}
	return true
}

// mountServiceAccountToken adds the kube-api-access volume and mounts it
// read-only in every container that has nothing at the mount path.
func mountServiceAccountToken(pod *corev1.Pod) {
	name := ""
	for name == "" || hasVolume(pod, name) {
		name = tokenVolumePrefix + utilrand.String(5)
	}
	mounted := false
	mount := func(cs []corev1.Container) {
		for i := range cs {
			if hasMountAt(cs[i].VolumeMounts, ServiceAccountMountPath) {
				continue
			}
			cs[i].VolumeMounts = append(cs[i].VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: ServiceAccountMountPath})
			mounted = true
		}
	}
	mount(pod.Spec.InitContainers)
	mount(pod.Spec.Containers)
	if !mounted {
		return
	}
	exp := int64(tokenExpirationSeconds)
	mode := int32(corev1.ProjectedVolumeSourceDefaultMode)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
		Projected: &corev1.ProjectedVolumeSource{DefaultMode: &mode, Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
				Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}},
	}})
}

func hasVolume(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func hasMountAt(mounts []corev1.VolumeMount, path string) bool {
	for _, m := range mounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}
