package kubelet

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/component-helpers/node/util/sysctl"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// safeSysctls are the sysctls every pod may set: namespaced by the
// kernel and isolated between pods (the kubelet's safe set, as the
// Kubernetes documentation lists it for 1.32).
var safeSysctls = []string{
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

// reasonSysctlForbidden is the reason of a pod refused for its sysctls.
const reasonSysctlForbidden = "SysctlForbidden"

// sysctlAllowlist admits the sysctls of pods: the safe set and the
// patterns of --allowed-unsafe-sysctls (a name, or a prefix ending in *),
// each of which must be namespaced (pkg/kubelet/sysctl upstream).
type sysctlAllowlist struct {
	exact    map[string]sysctl.Namespace
	prefixes map[string]sysctl.Namespace
}

// newSysctlAllowlist builds the allowlist from the unsafe patterns.
func newSysctlAllowlist(unsafe []string) (*sysctlAllowlist, error) {
	w := &sysctlAllowlist{exact: map[string]sysctl.Namespace{}, prefixes: map[string]sysctl.Namespace{}}
	for _, s := range append(append([]string{}, safeSysctls...), unsafe...) {
		s = sysctl.NormalizeName(s)
		if prefix, ok := strings.CutSuffix(s, "*"); ok {
			ns, _, _ := sysctl.GetNamespace(prefix)
			if ns == sysctl.UnknownNamespace {
				return nil, fmt.Errorf("the sysctls %q are not known to be namespaced", s)
			}
			w.prefixes[prefix] = ns
			continue
		}
		ns, _, _ := sysctl.GetNamespace(s)
		if ns == sysctl.UnknownNamespace {
			return nil, fmt.Errorf("the sysctl %q are not known to be namespaced", s)
		}
		w.exact[s] = ns
	}
	return w, nil
}

// check reports why the pod may not run with its sysctls, or "".
func (w *sysctlAllowlist) check(pod *corev1.Pod) string {
	sc := pod.Spec.SecurityContext
	if w == nil || sc == nil {
		return ""
	}
	for _, s := range sc.Sysctls {
		name := sysctl.NormalizeName(s.Name)
		ns, ok := w.exact[name]
		if !ok {
			for p, pns := range w.prefixes {
				if strings.HasPrefix(name, p) {
					ns, ok = pns, true
					break
				}
			}
		}
		switch {
		case !ok:
			return fmt.Sprintf("forbidden sysctl: %q not allowlisted", name)
		case ns == sysctl.IPCNamespace && pod.Spec.HostIPC, ns == sysctl.NetNamespace && pod.Spec.HostNetwork:
			return fmt.Sprintf("forbidden sysctl: %q not allowed with host %s enabled", name, strings.ToLower(string(ns)))
		}
	}
	return ""
}

// rejectPod fails a pod the kubelet will not run (rejectPod upstream).
func (k *Kubelet) rejectPod(ctx context.Context, p *corev1.Pod, reason, message string) error {
	k.cfg.Recorder.Eventf(p, "", events.Warning, reason, "%s", message)
	return k.failPod(ctx, p, reason, "Pod was rejected: "+message, func(pod *corev1.Pod) {
		if pod.Status.StartTime == nil {
			now := metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second))
			pod.Status.StartTime = &now
		}
	})
}

// failPod writes phase Failed with reason and message to the pod's status
// (unless it finished already or is another pod of that name), after
// mutate (nil: nothing more) changed the rest. A static pod's status is
// the kubelet's own (its mirror pod shows it): it changes in memory, and
// the pod's worker is woken to stop it and report.
func (k *Kubelet) failPod(ctx context.Context, p *corev1.Pod, reason, message string, mutate func(*corev1.Pod)) error {
	fail := func(pod *corev1.Pod) *corev1.Pod {
		if pod.UID != p.UID || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
			return nil
		}
		pod = pod.DeepCopy()
		pod.ResourceVersion = ""
		pod.Status.Phase, pod.Status.Reason, pod.Status.Message = corev1.PodFailed, reason, message
		if mutate != nil {
			mutate(pod)
		}
		return pod
	}
	if k.isStatic(p.UID) {
		k.mu.Lock()
		if cur := k.pods[p.UID]; cur != nil {
			if next := fail(cur); next != nil {
				k.pods[p.UID] = next
			}
		}
		k.mu.Unlock()
		k.wake(ctx, p.UID)
		return nil
	}
	_, err := k.cfg.Pods.Update(ctx, p.Namespace, p.Name, func(cur runtime.Object) (runtime.Object, error) {
		if pod := fail(cur.(*corev1.Pod)); pod != nil {
			return pod, nil
		}
		return nil, storage.ErrNoChange
	}, registry.UpdateOptions{Status: true})
	return err
}
