// Package scheduler is kube-scheduler for a cluster of one node: it decides
// whether a pod fits this node with the default filter plugins that matter
// on one node (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts,
// NodeResourcesFit, in that order, the first failing one giving the
// reasons), binds the pods that fit, and reports the others Unschedulable
// with kube-scheduler's message, retrying them when room frees up. peapod
// has no preemption, so messages carry no "preemption:" part.
package scheduler

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// Reasons of the filter plugins (pkg/scheduler/framework/plugins).
const (
	reasonUnschedulable = "node(s) were unschedulable"
	reasonAffinity      = ReasonAffinity
	reasonPorts         = ReasonPorts
	reasonTooManyPods   = "Too many pods"
)

// filter returns why pod does not fit node next to the pods already bound
// there (none: it fits).
func filter(pod *corev1.Pod, node *corev1.Node, bound []*corev1.Pod) []string {
	if node.Spec.Unschedulable && !toleratesUnschedulable(pod) {
		return []string{reasonUnschedulable}
	}
	noScheduleOrExecute := func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}
	if taint, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, noScheduleOrExecute, false); untolerated {
		return []string{fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)}
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return []string{reasonAffinity}
	}
	if PortsInUse(pod, bound) {
		return []string{reasonPorts}
	}
	return insufficient(pod, node, bound)
}

func toleratesUnschedulable(pod *corev1.Pod) bool {
	taint := &corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	return corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, taint, false)
}

// PortsInUse reports whether a host port of pod is taken by a bound pod
// (the NodePorts filter; the kubelet admits pods with it too).
func PortsInUse(pod *corev1.Pod, bound []*corev1.Pod) bool {
	type key struct {
		ip    string
		proto corev1.Protocol
		port  int32
	}
	used := map[key]bool{}
	for _, p := range bound {
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.HostPort > 0 {
					used[key{port.HostIP, port.Protocol, port.HostPort}] = true
				}
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort <= 0 {
				continue
			}
			// A wildcard address conflicts with every address.
			for k := range used {
				if k.proto == port.Protocol && k.port == port.HostPort &&
					(k.ip == port.HostIP || isWildcard(k.ip) || isWildcard(port.HostIP)) {
					return true
				}
			}
		}
	}
	return false
}

func isWildcard(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }

// The filters' reasons the kubelet's admission reports too.
const (
	ReasonAffinity = "node(s) didn't match Pod's node affinity/selector"
	ReasonPorts    = "node(s) didn't have free ports for the requested pod ports"
)

// AddRequests adds the pods' requests (PodRequests: the sidecar-aware
// aggregate) to used.
func AddRequests(used corev1.ResourceList, pods []*corev1.Pod) {
	for _, p := range pods {
		for name, q := range resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{}) {
			cur := used[name]
			cur.Add(q)
			used[name] = cur
		}
	}
}

// insufficient is NodeResourcesFit's check: the pod count and every
// resource the pod requests against what is allocatable minus what the
// bound pods request.
func insufficient(pod *corev1.Pod, node *corev1.Node, bound []*corev1.Pod) []string {
	var reasons []string
	if pods := node.Status.Allocatable.Pods().Value(); int64(len(bound))+1 > pods {
		reasons = append(reasons, reasonTooManyPods)
	}
	want := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	used := corev1.ResourceList{}
	AddRequests(used, bound)
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, n := range names {
		name := corev1.ResourceName(n)
		q := want[name]
		if q.IsZero() || name == corev1.ResourcePods {
			continue
		}
		free := node.Status.Allocatable[name].DeepCopy()
		u := used[name]
		free.Sub(u)
		if q.Cmp(free) > 0 {
			reasons = append(reasons, "Insufficient "+string(name))
		}
	}
	return reasons
}

// fitMessage is FitError.Error for one node: "0/1 nodes are available:
// 1 Insufficient cpu, 1 Insufficient memory."
func fitMessage(nodes int, reasons []string) string {
	counted := make([]string, len(reasons))
	for i, r := range reasons {
		counted[i] = "1 " + r
	}
	sort.Strings(counted)
	msg := fmt.Sprintf("0/%d nodes are available", nodes)
	if len(counted) == 0 {
		return msg + "."
	}
	return msg + ": " + strings.Join(counted, ", ") + "."
}
