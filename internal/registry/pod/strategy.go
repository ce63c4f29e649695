// Package pod holds the API behaviour of Pods: defaulting, validation, the
// create/update/status/delete strategies of pkg/registry/core/pod, the
// selectable fields, and binding new pods to this node (peapod has no
// scheduler: the one node takes every pod, like the scheduler's Bind would).
package pod

import (
	"context"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for pods.
type Strategy struct {
	// NodeName is the node new pods are bound to.
	NodeName string
	// Now is the clock.
	Now func() time.Time
	// OnBound, if set, is called after a pod was created bound to NodeName
	// (the daemon records the scheduler's "Scheduled" event there).
	OnBound func(ctx context.Context, pod *corev1.Pod)
}

// Resource returns the pods resource served with s.
func Resource(s *Strategy) *registry.Resource {
	return &registry.Resource{
		Name: "pods", SingularName: "pod", Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"},
		Namespaced: true, ReturnDeletedObject: true, HasStatus: true,
		New:      func() runtime.Object { return &corev1.Pod{} },
		NewList:  func() runtime.Object { return &corev1.PodList{} },
		Strategy: s,
	}
}

// PrepareForCreate resets status, applies defaults and binds the pod.
func (s *Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	SetDefaults(pod)
	pod.Generation = 1
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qos.ComputePodQOS(pod)}
	if pod.Spec.NodeName == "" && len(pod.Spec.SchedulingGates) == 0 {
		// What the binding subresource does (assignPod upstream).
		pod.Spec.NodeName = s.NodeName
		pod.Status.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(s.Now().UTC().Truncate(time.Second)),
		}}
	} else if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// AfterCreate reports the binding.
func (s *Strategy) AfterCreate(ctx context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	if s.OnBound != nil && pod.Spec.NodeName == s.NodeName {
		s.OnBound(ctx, pod)
	}
}

// Validate validates a new pod.
func (s *Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return ValidatePod(obj.(*corev1.Pod))
}

// WarningsOnCreate warns about names that are not DNS labels, since the name
// becomes the hostname.
func (s *Strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	pod := obj.(*corev1.Pod)
	if msgs := validation.IsDNS1123Label(pod.Name); len(msgs) > 0 && pod.Spec.Hostname == "" {
		return []string{"metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: " + formatList(msgs)}
	}
	return nil
}

func formatList(msgs []string) string {
	out := "["
	for i, m := range msgs {
		if i > 0 {
			out += " "
		}
		out += m
	}
	return out + "]"
}

// PrepareForUpdate keeps the stored status and bumps generation on spec
// changes.
func (s *Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	SetDefaults(pod)
	pod.Status = oldPod.Status
	if !apiequality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		pod.Generation = oldPod.Generation + 1
	}
}

// ValidateUpdate validates a main-resource update.
func (s *Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return ValidatePodUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
}

// PrepareForStatusUpdate keeps everything but status from the stored pod,
// and backfills the immutable QoS class.
func (s *Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	rv := pod.ResourceVersion
	pod.ObjectMeta = *oldPod.ObjectMeta.DeepCopy()
	pod.ResourceVersion = rv
	pod.Spec = oldPod.Spec
	if pod.Status.QOSClass == "" {
		pod.Status.QOSClass = oldPod.Status.QOSClass
	}
	defaultStatusIPs(&pod.Status)
}

// ValidateStatusUpdate validates a status write.
func (s *Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateStatusUpdate(obj.(*corev1.Pod), old.(*corev1.Pod))
}

// GracePeriod is CheckGracefulDelete: the requested period, else the spec's;
// 0 for unbound or finished pods; negative becomes 1.
func (s *Strategy) GracePeriod(ctx context.Context, obj runtime.Object, opts *metav1.DeleteOptions) int64 {
	pod := obj.(*corev1.Pod)
	var period int64
	if opts.GracePeriodSeconds != nil {
		period = *opts.GracePeriodSeconds
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	return period
}

// SelectableFields are the pod fields usable in field selectors
// (ToSelectableFields upstream).
func (s *Strategy) SelectableFields(obj runtime.Object) fields.Set {
	pod := obj.(*corev1.Pod)
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return fields.Set{
		"metadata.name":            pod.Name,
		"metadata.namespace":       pod.Namespace,
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}
