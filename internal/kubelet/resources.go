package kubelet

import (
	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/qos"
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

// oomScoreAdj is GetContainerOOMScoreAdjust: -997 for Guaranteed, 1000 for
// BestEffort, and for Burstable 1000 - 1000*request/capacity kept in [3, 999].
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memoryCapacity int64) int64 {
	switch qos.PodQOSClass(pod) {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBestEffort:
		return besteffortOOMScoreAdj
	}
	if memoryCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	request := c.Resources.Requests.Memory().Value()
	adj := int64(1000) - (1000*request)/memoryCapacity
	if adj < 1000+guaranteedOOMScoreAdj {
		return 1000 + guaranteedOOMScoreAdj
	}
	if adj == besteffortOOMScoreAdj {
		return besteffortOOMScoreAdj - 1
	}
	return adj
}
