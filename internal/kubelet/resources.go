package kubelet

import (
	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/prober"
	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/registry/priorityclass"
)

// Constants of pkg/kubelet/cm/helpers_linux.go and pkg/kubelet/qos.
const (
	minShares     = 2
	maxShares     = 262144
	sharesPerCPU  = 1024
	milliCPUToCPU = 1000
	quotaPeriod   = 100000 // µs
	minQuota      = 1000   // µs

	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
)

// milliCPUToShares is MilliCPUToShares: m*1024/1000 within [2, 262144].
func milliCPUToShares(m int64) int64 {
	if m == 0 {
		return minShares
	}
	shares := m * sharesPerCPU / milliCPUToCPU
	return min(max(shares, minShares), maxShares)
}

// milliCPUToQuota is MilliCPUToQuota: 0 means no quota; otherwise at least
// 1000 µs.
func milliCPUToQuota(m, period int64) int64 {
	if m == 0 {
		return 0
	}
	return max(m*period/milliCPUToCPU, minQuota)
}

// containerResources is generateLinuxContainerResources: cpu shares from the
// request (or the limit when there is no request), CFS quota from the
// limit, the memory limit, and the QoS-derived oom_score_adj.
func containerResources(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) *runtimeapi.LinuxContainerResources {
	r := &runtimeapi.LinuxContainerResources{CpuPeriod: quotaPeriod}
	req, hasReq := c.Resources.Requests[corev1.ResourceCPU]
	lim, hasLim := c.Resources.Limits[corev1.ResourceCPU]
	switch {
	case hasReq:
		r.CpuShares = milliCPUToShares(req.MilliValue())
	case hasLim:
		r.CpuShares = milliCPUToShares(lim.MilliValue())
	default:
		r.CpuShares = minShares
	}
	if hasLim {
		r.CpuQuota = milliCPUToQuota(lim.MilliValue(), quotaPeriod)
	}
	if mem, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		r.MemoryLimitInBytes = mem.Value()
	}
	r.OomScoreAdj = oomScoreAdj(pod, c, memoryCapacity)
	if cgroups.IsCgroup2UnifiedMode() {
		// The whole container goes on OOM, as the kubelet asks on v2
		// (singleProcessOOMKill unset).
		r.Unified = map[string]string{"memory.oom.group": "1"}
	}
	return r
}

// oomScoreAdj is GetContainerOOMScoreAdjust: -997 for node-critical pods
// and Guaranteed ones, 1000 for BestEffort, and for Burstable 1000 -
// 1000*request/capacity kept in [3, 999]; a sidecar's is never above what
// the smallest memory request among the regular containers gives
// (minRegularContainerMemory), so that it outlives them under OOM.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	if isNodeCritical(pod) {
		return guaranteedOOMScoreAdj
	}
	switch qos.PodQOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memoryCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	adj := int64(1000) - (1000*c.Resources.Requests.Memory().Value())/memoryCapacity
	if isSidecarOf(pod, c) {
		if minimum := minRegularContainerMemory(pod); minimum > 0 {
			adj = min(adj, int64(1000)-(1000*minimum)/memoryCapacity)
		}
	}
	if adj < 1000+guaranteedOOMScoreAdj {
		return 1000 + guaranteedOOMScoreAdj
	}
	if adj == besteffortOOMScoreAdj {
		return besteffortOOMScoreAdj - 1
	}
	return adj
}

// isSidecarOf reports whether c is one of the pod's sidecars (an init
// container with restartPolicy Always).
func isSidecarOf(pod *corev1.Pod, c *corev1.Container) bool {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			return prober.IsSidecar(&pod.Spec.InitContainers[i])
		}
	}
	return false
}

// minRegularContainerMemory is the smallest memory request among the
// pod's regular containers (0 when one has none).
func minRegularContainerMemory(pod *corev1.Pod) int64 {
	if len(pod.Spec.Containers) == 0 {
		return 0
	}
	out := pod.Spec.Containers[0].Resources.Requests.Memory().Value()
	for _, c := range pod.Spec.Containers[1:] {
		out = min(out, c.Resources.Requests.Memory().Value())
	}
	return out
}

// isCriticalPod is kubelettypes.IsCriticalPod: static pods, mirror pods
// and pods of a system priority.
func isCriticalPod(pod *corev1.Pod) bool {
	return pod.Annotations[annotationConfigSource] == configSourceFile || isMirrorPod(pod) ||
		corev1helpers.PodPriority(pod) >= priorityclass.SystemCriticalPriority
}

// isNodeCritical is kubelettypes.IsNodeCriticalPod: a critical pod of
// the system-node-critical class.
func isNodeCritical(pod *corev1.Pod) bool {
	return isCriticalPod(pod) && pod.Spec.PriorityClassName == priorityclass.SystemNodeCritical
}
