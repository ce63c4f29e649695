// Package pod holds the API behaviour of Pods: defaulting, validation, the
// create/update/status/delete strategies of pkg/registry/core/pod, the
// selectable fields, and binding new pods to this node (peapod has no
// scheduler: the one node takes every pod, like the scheduler's Bind would).
package pod

import (
	"context"
	"fmt"
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
	// Scheduler, if set, decides whether a new pod fits the node; without
	// one every pod is bound.
	Scheduler Scheduler
	// ServiceAccounts, if set, turns on the ServiceAccount admission
	// plugin (see AdmitCreate).
	ServiceAccounts ServiceAccountGetter
}

// Scheduler is the part of package scheduler a pod create uses: the
// decision under a lock held until the pod is committed, and the events.
type Scheduler interface {
	Lock() (unlock func())
	Decide(ctx context.Context, pod *corev1.Pod) (fits bool, message string)
	Bound(pod *corev1.Pod)
	Failed(pod *corev1.Pod, message string)
}

// GuardCreate holds the scheduling lock across a pod create.
func (s *Strategy) GuardCreate() func() {
	if s.Scheduler == nil {
		return func() {}
	}
	return s.Scheduler.Lock()
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

// Default copies limits into missing requests before admission, as the
// API's defaulting does on decode (DefaultRequests).
func (s *Strategy) Default(obj runtime.Object) {
	if pod, ok := obj.(*corev1.Pod); ok {
		DefaultRequests(pod)
	}
}

// PrepareForCreate resets status, applies defaults and binds the pod.
func (s *Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	SetDefaults(pod)
	pod.Generation = 1
	pod.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qos.ComputePodQOS(pod)}
	if pod.Spec.NodeName == "" && len(pod.Spec.SchedulingGates) == 0 {
		fits, msg := true, ""
		if s.Scheduler != nil {
			fits, msg = s.Scheduler.Decide(ctx, pod)
		}
		if fits {
			// What the binding subresource does (assignPod upstream).
			s.bind(pod, s.NodeName)
		} else {
			pod.Status.Conditions = []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
				Message: msg, LastTransitionTime: s.now(),
			}}
		}
	} else if len(pod.Spec.SchedulingGates) > 0 {
		pod.Status.Conditions = []corev1.PodCondition{{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated,
			Message: "Scheduling is blocked due to non-empty scheduling gates",
		}}
	}
}

// AfterCreate reports the scheduling decision.
func (s *Strategy) AfterCreate(ctx context.Context, obj runtime.Object) {
	pod := obj.(*corev1.Pod)
	if s.Scheduler == nil {
		return
	}
	for _, c := range pod.Status.Conditions {
		switch {
		case c.Type != corev1.PodScheduled:
		case c.Status == corev1.ConditionTrue && pod.Spec.NodeName == s.NodeName:
			s.Scheduler.Bound(pod)
		case c.Reason == corev1.PodReasonUnschedulable:
			s.Scheduler.Failed(pod, c.Message)
		}
	}
}

// bind sets the node and the PodScheduled=True condition.
func (s *Strategy) bind(pod *corev1.Pod, node string) {
	pod.Spec.NodeName = node
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: s.now()}
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodScheduled {
			pod.Status.Conditions[i] = cond
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, cond)
}

func (s *Strategy) now() metav1.Time { return metav1.NewTime(s.Now().UTC().Truncate(time.Second)) }

// PrepareForBinding is the pods/binding subresource: of the new object
// only spec.nodeName counts, and a pod already bound stays where it is.
func (s *Strategy) PrepareForBinding(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	node, rv := pod.Spec.NodeName, pod.ResourceVersion
	*pod = *oldPod.DeepCopy()
	pod.ResourceVersion = rv
	if oldPod.Spec.NodeName != "" {
		return field.ErrorList{field.Forbidden(field.NewPath("spec", "nodeName"),
			fmt.Sprintf("pod %s is already assigned to node %q", oldPod.Name, oldPod.Spec.NodeName))}
	}
	if node == "" {
		return field.ErrorList{field.Required(field.NewPath("target", "name"), "")}
	}
	s.bind(pod, node)
	return nil
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
	// The Priority admission plugin set these on create; an update that
	// leaves them out keeps them, as the plugin does on update.
	if pod.Spec.Priority == nil {
		pod.Spec.Priority = oldPod.Spec.Priority
	}
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = oldPod.Spec.PreemptionPolicy
	}
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
