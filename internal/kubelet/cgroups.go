package kubelet

import (
	"errors"
	"fmt"
	"path"
	goruntime "runtime"
	"strings"
	"sync"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/qos"
)

// cgroupManager names and creates the kubepods hierarchy
// (pkg/kubelet/cm): <root>/kubepods for Guaranteed pods,
// <root>/kubepods/burstable and <root>/kubepods/besteffort for the others,
// and pod<uid> below, written by the cgroup driver: with cgroupfs
// /kubepods/burstable/pod<uid>, with systemd
// /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice.
// opencontainers/cgroups handles v1 and v2.
type cgroupManager struct {
	driver cgroup.Driver
	root   cgroup.Name
	// podPidsLimit is --pod-max-pids (<= 0: no limit).
	podPidsLimit int64
	// qosMu serializes writes of the QoS cgroups' values.
	qosMu sync.Mutex
}

// podCgroups is what the kubelet does with cgroups; *cgroupManager does
// it through the cgroup driver, unit tests fake it.
type podCgroups interface {
	// ensureQOS makes kubepods (with the node allocatable values) and
	// the QoS cgroups.
	ensureQOS(kubepods *cgroups.Resources) error
	// setBurstable sets the Burstable QoS cgroup's CPU shares.
	setBurstable(milliCPU int64) error
	// createPod makes the pod cgroup and returns the sandbox's cgroup
	// parent; setPodQuota sets its CPU quota once the first containers
	// started.
	createPod(pod *corev1.Pod) (string, error)
	setPodQuota(pod *corev1.Pod) error
	// setPod sets new values on the pod cgroup (an in-place resize).
	setPod(pod *corev1.Pod, res *cgroups.Resources) error
	// destroyPod kills what runs in the pod cgroup and removes it.
	destroyPod(uid types.UID) error
	// podCgroupUIDs lists the pods that have a cgroup.
	podCgroupUIDs() map[types.UID]bool
	// podPath and containerPath are cgroup file system paths, to read
	// usage from.
	podPath(pod *corev1.Pod) string
	containerPath(pod *corev1.Pod, id string) string
}

func newCgroupManager(driver cgroup.Driver, root string, podPidsLimit int64) (*cgroupManager, error) {
	if root == "" {
		root = "/"
	}
	if !path.IsAbs(root) {
		return nil, fmt.Errorf("cgroup root %q must be absolute", root)
	}
	name, err := driver.ParseRoot(root)
	if err != nil {
		return nil, err
	}
	return &cgroupManager{driver: driver, root: name, podPidsLimit: podPidsLimit}, nil
}

func (m *cgroupManager) kubepods() cgroup.Name { return m.root.Child("kubepods") }

// qosCgroup is the parent cgroup of pods of a QoS class.
func (m *cgroupManager) qosCgroup(class corev1.PodQOSClass) cgroup.Name {
	switch class {
	case corev1.PodQOSBurstable:
		return m.kubepods().Child("burstable")
	case corev1.PodQOSBestEffort:
		return m.kubepods().Child("besteffort")
	}
	return m.kubepods()
}

// podCgroup is the pod's cgroup: the "pod" prefix and the pod UID.
func (m *cgroupManager) podCgroup(pod *corev1.Pod) cgroup.Name {
	return m.qosCgroup(qos.PodQOSClass(pod)).Child(podCgroupPrefix + string(pod.UID))
}

// podPath is the path of the pod's cgroup in the hierarchy.
func (m *cgroupManager) podPath(pod *corev1.Pod) string { return m.driver.Path(m.podCgroup(pod)) }

// containerPath is the path of a container's cgroup in the hierarchy,
// as the runtime makes it below the pod's cgroup.
func (m *cgroupManager) containerPath(pod *corev1.Pod, id string) string {
	return cgroup.Leaf{Parent: m.driver.RuntimeParent(m.podCgroup(pod)), ID: id}.Path()
}

// manager reads the cgroup at the path p (for its statistics).
func manager(p string) (cgroups.Manager, error) {
	return cgmanager.New(&cgroups.Cgroup{Path: p, Resources: &cgroups.Resources{SkipDevices: true}})
}

// ensureQOS creates kubepods, with the node allocatable's values (nil:
// none), and the QoS parents, BestEffort with the minimum shares and
// Burstable with those of no pods yet.
func (m *cgroupManager) ensureQOS(kubepods *cgroups.Resources) error {
	if err := m.driver.Create(m.kubepods(), kubepods); err != nil {
		return err
	}
	for _, class := range []corev1.PodQOSClass{corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		if err := m.driver.Create(m.qosCgroup(class), qosResources(0, class)); err != nil {
			return err
		}
	}
	return nil
}

// setBurstable gives the Burstable cgroup the shares of the Burstable
// pods' summed cpu requests.
func (m *cgroupManager) setBurstable(milliCPU int64) error {
	m.qosMu.Lock()
	defer m.qosMu.Unlock()
	return m.driver.Set(m.qosCgroup(corev1.PodQOSBurstable), qosResources(milliCPU, corev1.PodQOSBurstable))
}

// createPod creates the pod cgroup with the pod's values
// (ResourceConfigForPod) but its CPU quota, and returns the cgroup parent
// the runtime gets for the pod's sandbox and containers.
//
// The quota comes later (setPodQuota, once the sync that made the
// sandbox has started the containers it could), where upstream sets it
// at once: the runtime's set-up of each container (runc init) runs in the
// pod's cgroup, and under a small pod limit (100m: 10 ms of CPU per 100
// ms) it was throttled into taking 3 times as long. Nothing of the
// workload runs unbounded meanwhile: the pod has a quota only when every
// container has a CPU limit, and each container's own quota is set
// before its process starts (see the runtime's deferCPUQuota).
func (m *cgroupManager) createPod(pod *corev1.Pod) (string, error) {
	n := m.podCgroup(pod)
	res := podResources(pod, m.podPidsLimit)
	res.CpuQuota = 0
	return m.driver.RuntimeParent(n), m.driver.Create(n, res)
}

// setPodQuota sets the pod cgroup's CPU quota and period, when the pod
// has one.
func (m *cgroupManager) setPodQuota(pod *corev1.Pod) error {
	res := podResources(pod, m.podPidsLimit)
	if res.CpuQuota <= 0 {
		return nil
	}
	return m.driver.Set(m.podCgroup(pod), &cgroups.Resources{CpuQuota: res.CpuQuota, CpuPeriod: res.CpuPeriod})
}

// setPod sets res on the pod's cgroup.
func (m *cgroupManager) setPod(pod *corev1.Pod, res *cgroups.Resources) error {
	return m.driver.Set(m.podCgroup(pod), res)
}

// destroyPod kills whatever still runs in the pod's cgroup and removes it
// with its leaves (as the kubelet's pod container manager does). It tries
// every QoS parent, since the pod's class is not needed to clean up.
func (m *cgroupManager) destroyPod(uid types.UID) error {
	var errs []error
	for _, class := range []corev1.PodQOSClass{corev1.PodQOSGuaranteed, corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		if n := m.qosCgroup(class).Child(podCgroupPrefix + string(uid)); m.driver.Exists(n) {
			errs = append(errs, m.driver.Destroy(n))
		}
	}
	return errors.Join(errs...)
}

// podCgroupPrefix starts the name of every pod cgroup.
const podCgroupPrefix = "pod"

// podCgroupUIDs lists the UIDs of the pods that have a cgroup, in any QoS
// class (GetAllPodsFromCgroups upstream).
func (m *cgroupManager) podCgroupUIDs() map[types.UID]bool {
	out := map[types.UID]bool{}
	for _, class := range []corev1.PodQOSClass{corev1.PodQOSGuaranteed, corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		for _, element := range m.driver.Children(m.qosCgroup(class)) {
			if uid, ok := strings.CutPrefix(element, podCgroupPrefix); ok && uid != "" {
				out[types.UID(uid)] = true
			}
		}
	}
	return out
}

// updateBurstable recomputes the Burstable cgroup's shares from the
// Burstable pods the kubelet runs (not finished, and not gone, the one
// just torn down included), as the QoS container manager does on every
// pod add and remove and periodically.
func (k *Kubelet) updateBurstable(gone types.UID) {
	var milliCPU int64
	k.mu.Lock()
	for uid, p := range k.pods {
		if uid == gone || qos.PodQOSClass(p) != corev1.PodQOSBurstable || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		requests := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
		milliCPU += requests.Cpu().MilliValue()
	}
	k.mu.Unlock()
	if err := k.cgroups.setBurstable(milliCPU); err != nil {
		k.log.Warn("setting the Burstable QoS cgroup", "err", err)
	}
}

// kubepodsResources is what enforcing node allocatable for pods sets on
// kubepods (node_container_manager_linux.go): the shares of the
// allocatable CPU and a memory limit of capacity minus the reservations
// (the eviction threshold is not taken off here).
func (k *Kubelet) kubepodsResources() *cgroups.Resources {
	r := &cgroups.Resources{SkipDevices: true}
	cpu := resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI)
	cpu.Sub(k.cfg.Reserved[corev1.ResourceCPU])
	setShares(r, milliCPUToShares(max(cpu.MilliValue(), 0)))
	mem := k.memoryCapacity()
	if reserved, ok := k.cfg.Reserved[corev1.ResourceMemory]; ok {
		mem -= reserved.Value()
	}
	if mem > 0 {
		r.Memory = mem
	}
	return r
}
