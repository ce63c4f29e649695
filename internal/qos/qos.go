// Package qos computes a pod's Quality of Service class (Guaranteed,
// Burstable, BestEffort) from its resource requests and limits, as
// pkg/apis/core/v1/helper/qos does upstream.
package qos

import (
	corev1 "k8s.io/api/core/v1"
)

// computeResources are the only resources that decide the class.
var computeResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// PodQOSClass returns status.qosClass when it is set (it is immutable once
// the API server set it) and computes the class otherwise.
func PodQOSClass(pod *corev1.Pod) corev1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return ComputePodQOS(pod)
}

// ComputePodQOS evaluates the class from the (defaulted) spec: containers and
// init containers count, ephemeral containers do not; only positive cpu and
// memory quantities count. With pod-level resources only those are used.
func ComputePodQOS(pod *corev1.Pod) corev1.PodQOSClass {
	if r := pod.Spec.Resources; r != nil && hasCompute(r.Requests, r.Limits) {
		return classify(sum(nil, r.Requests), sum(nil, r.Limits), hasAllLimits(r.Limits))
	}
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.Containers...), pod.Spec.InitContainers...)
	for _, c := range all {
		requests = sum(requests, c.Resources.Requests)
		limits = sum(limits, c.Resources.Limits)
		if !hasAllLimits(c.Resources.Limits) {
			guaranteed = false
		}
	}
	return classify(requests, limits, guaranteed)
}

func classify(requests, limits corev1.ResourceList, guaranteed bool) corev1.PodQOSClass {
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if lim, ok := limits[name]; !ok || lim.Cmp(req) != 0 {
				guaranteed = false
				break
			}
		}
	}
	if guaranteed && len(requests) == len(limits) {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// sum adds the positive cpu and memory quantities of list into acc.
func sum(acc, list corev1.ResourceList) corev1.ResourceList {
	if acc == nil {
		acc = corev1.ResourceList{}
	}
	for _, name := range computeResources {
		q, ok := list[name]
		if !ok || q.Sign() <= 0 {
			continue
		}
		if cur, ok := acc[name]; ok {
			cur.Add(q)
			acc[name] = cur
		} else {
			acc[name] = q.DeepCopy()
		}
	}
	return acc
}

func hasAllLimits(limits corev1.ResourceList) bool {
	for _, name := range computeResources {
		if q, ok := limits[name]; !ok || q.Sign() <= 0 {
			return false
		}
	}
	return true
}

func hasCompute(lists ...corev1.ResourceList) bool {
	for _, l := range lists {
		for _, name := range computeResources {
			if q, ok := l[name]; ok && q.Sign() > 0 {
				return true
			}
		}
	}
	return false
}
