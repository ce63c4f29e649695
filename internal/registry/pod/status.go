package pod

import (
	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// defaultStatusIPs keeps the singular and plural IP fields in sync, as
// SetDefaults_PodStatus does on every write: a missing one is filled from
// the other, and on a mismatch podIP wins.
func defaultStatusIPs(st *corev1.PodStatus) {
	switch hasIP, hasIPs := st.PodIP != "", len(st.PodIPs) > 0; {
	case hasIP && !hasIPs:
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	case !hasIP && hasIPs:
		st.PodIP = st.PodIPs[0].IP
	case hasIP && hasIPs && st.PodIPs[0].IP != st.PodIP:
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	}
}

// validateStatusUpdate is ValidatePodStatusUpdate (pkg/apis/core/validation)
// for what a pod's status holds here: conditions, observedGeneration,
// nominatedNodeName, the immutable qosClass, container state transitions
// and pod and host IPs. Like upstream, it does not check status.phase nor
// that container statuses name spec containers.
func validateStatusUpdate(pod, old *corev1.Pod) field.ErrorList {
	path := field.NewPath("status")
	errs := validateMirrorAnnotation(pod, old)
	errs = append(errs, validateConditions(pod.Status.Conditions, path.Child("conditions"))...)
	if n := pod.Status.NominatedNodeName; n != old.Status.NominatedNodeName && n != "" {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			errs = append(errs, field.Invalid(path.Child("nominatedNodeName"), n, msg))
		}
	}
	if pod.Status.ObservedGeneration < 0 {
		errs = append(errs, field.Invalid(path.Child("observedGeneration"), pod.Status.ObservedGeneration, "must be a non-negative integer"))
	}
	errs = append(errs, apimachineryvalidation.ValidateImmutableField(pod.Status.QOSClass, old.Status.QOSClass, path.Child("qosClass"))...)
	errs = append(errs, validateStateTransitions(pod.Status.ContainerStatuses, old.Status.ContainerStatuses, path.Child("containerStatuses"), old.Spec, old.Spec.Containers)...)
	errs = append(errs, validateStateTransitions(pod.Status.InitContainerStatuses, old.Status.InitContainerStatuses, path.Child("initContainerStatuses"), old.Spec, old.Spec.InitContainers)...)
	errs = append(errs, validateStatusIPs(path.Child("podIPs"), podIPStrings(pod.Status.PodIPs), podIPStrings(old.Status.PodIPs), pod.Status.PodIPs)...)
	if len(pod.Status.HostIPs) > 0 {
		ips := hostIPStrings(pod.Status.HostIPs)
		if pod.Status.HostIP != ips[0] {
			errs = append(errs, field.Invalid(path.Child("hostIPs").Index(0).Child("ip"), ips[0], "must be equal to `hostIP`"))
		}
		errs = append(errs, validateStatusIPs(path.Child("hostIPs"), ips, hostIPStrings(old.Status.HostIPs), pod.Status.HostIPs)...)
	}
	return errs
}

// systemConditions are the condition types exempt from name validation.
var systemConditions = sets.New(corev1.PodScheduled, corev1.PodReady, corev1.PodInitialized)

func validateConditions(conds []corev1.PodCondition, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range conds {
		if c.ObservedGeneration < 0 {
			errs = append(errs, field.Invalid(path.Index(i).Child("observedGeneration"), c.ObservedGeneration, "must be a non-negative integer"))
		}
		if systemConditions.Has(c.Type) {
			continue
		}
		// Upstream's path says "Type", capitalized.
		for _, msg := range validation.IsQualifiedName(string(c.Type)) {
			errs = append(errs, field.Invalid(path.Index(i).Child("Type"), string(c.Type), msg))
		}
	}
	return errs
}

// validateStateTransitions refuses bringing a terminated container back
// to life when it may not restart: its own restartPolicy (a sidecar's
// Always) or else the pod's (Never; OnFailure after exit code 0).
func validateStateTransitions(cur, old []corev1.ContainerStatus, path *field.Path, spec corev1.PodSpec, ctrs []corev1.Container) field.ErrorList {
	var errs field.ErrorList
	for i, o := range old {
		if o.State.Terminated == nil || mayRestart(spec, ctrs, o.Name, o.State.Terminated.ExitCode) {
			continue
		}
		for _, n := range cur {
			if n.Name == o.Name && n.State.Terminated == nil {
				errs = append(errs, field.Forbidden(path.Index(i).Child("state"), "may not be transitioned to non-terminated state"))
			}
		}
	}
	return errs
}

func mayRestart(spec corev1.PodSpec, ctrs []corev1.Container, name string, exitCode int32) bool {
	policy := spec.RestartPolicy
	for _, c := range ctrs {
		if c.Name == name && c.RestartPolicy != nil {
			policy = corev1.RestartPolicy(*c.RestartPolicy)
		}
	}
	switch policy {
	case corev1.RestartPolicyAlways:
		return true
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return false
}

// validateStatusIPs checks new IPs (existing invalid ones may stay) and
// that there is at most one of each family.
func validateStatusIPs(path *field.Path, ips, oldIPs []string, value any) field.ErrorList {
	var errs field.ErrorList
	for i, ip := range ips {
		errs = append(errs, validation.IsValidIPForLegacyField(path.Index(i), ip, false, oldIPs)...)
	}
	if len(ips) > 1 {
		if dual, err := netutils.IsDualStackIPStrings(ips); err != nil || !dual || len(ips) > 2 {
			errs = append(errs, field.Invalid(path, value, "may specify no more than one IP for each IP family"))
		}
	}
	return errs
}

func podIPStrings(ips []corev1.PodIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}

func hostIPStrings(ips []corev1.HostIP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.IP
	}
	return out
}
