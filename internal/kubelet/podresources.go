package kubelet

import (
	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/peapod/peapod/internal/qos"
)

// podResources is ResourceConfigForPod (pkg/kubelet/cm/helpers_linux.go):
// the pod cgroup's values from the pod's aggregate requests and limits
// (component-helpers' PodRequests/PodLimits: the sidecar-aware maximum of
// regular containers and init containers, plus overhead). Shares always;
// CFS quota and the memory limit for Guaranteed pods, and for Burstable
// ones only when every container, init containers included, has that
// limit; BestEffort pods get the minimum shares. pidsLimit > 0 sets
// pids.max (--pod-max-pids).
func podResources(pod *corev1.Pod, pidsLimit int64) *cgroups.Resources {
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	limits := resourcehelper.PodLimits(pod, resourcehelper.PodResourcesOptions{})
	cpuLimited, memoryLimited := true, true
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Resources.Limits.Cpu().IsZero() {
			cpuLimited = false
		}
		if c.Resources.Limits.Memory().IsZero() {
			memoryLimited = false
		}
	}
	if r := pod.Spec.Resources; r != nil {
		// Pod-level limits stand for every container's.
		if !r.Limits.Cpu().IsZero() {
			cpuLimited = true
		}
		if !r.Limits.Memory().IsZero() {
			memoryLimited = true
		}
	}
	shares := milliCPUToShares(requests.Cpu().MilliValue())
	quota := milliCPUToQuota(limits.Cpu().MilliValue(), quotaPeriod)
	out := &cgroups.Resources{SkipDevices: true}
	switch qos.PodQOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		setShares(out, shares)
		setQuota(out, quota)
		out.Memory = limits.Memory().Value()
	case corev1.PodQOSBurstable:
		setShares(out, shares)
		if cpuLimited {
			setQuota(out, quota)
		}
		if memoryLimited {
			out.Memory = limits.Memory().Value()
		}
	default:
		setShares(out, minShares)
	}
	if pidsLimit > 0 {
		out.PidsLimit = &pidsLimit
	}
	return out
}

// qosResources are the values of a QoS class's cgroup: BestEffort gets the
// minimum shares, Burstable the shares of the sum of its pods' cpu
// requests (qosContainerManagerImpl.setCPUCgroupConfig).
func qosResources(burstableMilliCPU int64, class corev1.PodQOSClass) *cgroups.Resources {
	out := &cgroups.Resources{SkipDevices: true}
	if class == corev1.PodQOSBestEffort {
		setShares(out, minShares)
	} else {
		setShares(out, milliCPUToShares(burstableMilliCPU))
	}
	return out
}

// setShares sets cpu.shares on cgroup v1, and on v2 cpu.weight by the
// kubelet's own linear conversion (getCPUWeight), which is what the
// kubelet writes to pod and QoS cgroups (runtimes convert containers'
// shares with their own formula).
func setShares(r *cgroups.Resources, shares int64) {
	if cgroups.IsCgroup2UnifiedMode() {
		r.CpuWeight = cpuWeight(shares)
		return
	}
	r.CpuShares = uint64(shares)
}

// cpuWeight is getCPUWeight: 1 + (shares-2)*9999/262142, 10000 at most.
func cpuWeight(shares int64) uint64 {
	if shares >= maxShares {
		return 10000
	}
	return uint64(1 + ((shares-minShares)*9999)/(maxShares-minShares))
}

// setQuota sets the CFS quota over the 100 ms period (cpu.max on v2).
func setQuota(r *cgroups.Resources, quota int64) {
	if quota == 0 {
		quota = -1 // no limit
	}
	r.CpuQuota, r.CpuPeriod = quota, quotaPeriod
}
