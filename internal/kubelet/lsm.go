package kubelet

import (
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/peapod/peapod/internal/events"
)

// AppArmor and SELinux. peapod's runtime applies neither an AppArmor
// profile nor an SELinux label, so a pod asking for either is not run as
// if it had its protection:
//   - AppArmor (a profile other than Unconfined in a security context, or
//     the beta annotation): the kubelet's AppArmor admission refuses the
//     pod (reason AppArmor, "Cannot enforce AppArmor: ..."), as upstream's
//     does on a host without AppArmor; on a host with AppArmor the
//     message says peapod cannot apply the profile.
//   - seLinuxOptions: upstream passes them to the runtime, which ignores
//     them on a host without SELinux; peapod runs the pod too, and records
//     a Warning event saying the options are not applied.

// reasonAppArmor is the reason of a pod refused for its AppArmor profile
// (AppArmorNotAdmittedReason upstream).
const reasonAppArmor = "AppArmor"

// reasonSELinuxIgnored is the Warning of a pod whose seLinuxOptions are
// not applied.
const reasonSELinuxIgnored = "SELinuxOptionsIgnored"

// appArmorBetaPrefix is the beta per-container annotation's key prefix;
// its value "unconfined" asks for no profile.
const appArmorBetaPrefix = "container.apparmor.security.beta.kubernetes.io/"

// hostLSM is which security modules the host has enabled.
type hostLSM struct {
	appArmor, seLinux bool
}

// detectLSM reads the host's security modules: AppArmor as the
// kernel's module parameter says (what runc and the kubelet check),
// SELinux by its file system.
func detectLSM() hostLSM {
	enabled, _ := os.ReadFile("/sys/module/apparmor/parameters/enabled")
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return hostLSM{appArmor: strings.TrimSpace(string(enabled)) == "Y", seLinux: err == nil}
}

// appArmorRequired reports whether pod asks for an AppArmor profile
// (isRequired upstream): a pod or container profile other than
// Unconfined, or a beta annotation other than "unconfined".
func appArmorRequired(pod *corev1.Pod) bool {
	confined := func(sc *corev1.AppArmorProfile) bool {
		return sc != nil && sc.Type != corev1.AppArmorProfileTypeUnconfined
	}
	if sc := pod.Spec.SecurityContext; sc != nil && confined(sc.AppArmorProfile) {
		return true
	}
	for _, c := range allContainers(pod) {
		if sc := c.SecurityContext; sc != nil && confined(sc.AppArmorProfile) {
			return true
		}
	}
	for key, value := range pod.Annotations {
		if strings.HasPrefix(key, appArmorBetaPrefix) && value != "unconfined" {
			return true
		}
	}
	return false
}

// appArmorRefusal is why pod cannot be admitted for its AppArmor profile,
// or "".
func (l hostLSM) appArmorRefusal(pod *corev1.Pod) string {
	if !appArmorRequired(pod) {
		return ""
	}
	if !l.appArmor {
		return "Cannot enforce AppArmor: AppArmor is not enabled on the host"
	}
	return "Cannot enforce AppArmor: peapod's runtime does not apply AppArmor profiles"
}

// seLinuxOptionsSet reports whether pod or one of its containers sets
// seLinuxOptions.
func seLinuxOptionsSet(pod *corev1.Pod) bool {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
		return true
	}
	for _, c := range allContainers(pod) {
		if sc := c.SecurityContext; sc != nil && sc.SELinuxOptions != nil {
			return true
		}
	}
	return false
}

// warnSELinux records, once per worker, that pod's seLinuxOptions are not
// applied.
func (k *Kubelet) warnSELinux(w *podWorker, pod *corev1.Pod) {
	if w.warnedSELinux || !seLinuxOptionsSet(pod) {
		return
	}
	w.warnedSELinux = true
	msg := "seLinuxOptions are not applied: SELinux is not enabled on the host"
	if k.lsm.seLinux {
		msg = "seLinuxOptions are not applied: peapod's runtime does not label containers"
	}
	k.cfg.Recorder.Eventf(pod, "", events.Warning, reasonSELinuxIgnored, "%s", msg)
}

// allContainers lists the pod's init, regular and ephemeral containers.
func allContainers(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		out = append(out, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	for i := range pod.Spec.EphemeralContainers {
		out = append(out, (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	return out
}
