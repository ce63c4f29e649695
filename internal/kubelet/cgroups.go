package kubelet

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/qos"
)

// cgroupManager names and creates the kubepods hierarchy with the cgroupfs
// driver (pkg/kubelet/cm): <root>/kubepods for Guaranteed pods,
// <root>/kubepods/burstable and <root>/kubepods/besteffort for the others,
// and pod<uid> below. opencontainers/cgroups handles v1 and v2.
type cgroupManager struct {
	root string
}

func newCgroupManager(root string) (*cgroupManager, error) {
	if root == "" {
		root = "/"
	}
	if !path.IsAbs(root) {
		return nil, fmt.Errorf("cgroup root %q must be absolute", root)
	}
	return &cgroupManager{root: path.Clean(root)}, nil
}

func (m *cgroupManager) kubepods() string { return path.Join(m.root, "kubepods") }

// qosCgroup is the parent cgroup of pods of a QoS class.
func (m *cgroupManager) qosCgroup(class corev1.PodQOSClass) string {
	switch class {
	case corev1.PodQOSBurstable:
		return path.Join(m.kubepods(), "burstable")
	case corev1.PodQOSBestEffort:
		return path.Join(m.kubepods(), "besteffort")
	}
	return m.kubepods()
}

// podCgroup is the pod's cgroup: the "pod" prefix and the pod UID.
func (m *cgroupManager) podCgroup(pod *corev1.Pod) string {
	return path.Join(m.qosCgroup(qos.PodQOSClass(pod)), podCgroupPrefix+string(pod.UID))
}

func manager(p string) (cgroups.Manager, error) {
	return cgmanager.New(&cgroups.Cgroup{Path: p, Resources: &cgroups.Resources{SkipDevices: true}})
}

// ensureQOS creates kubepods and the QoS parents.
func (m *cgroupManager) ensureQOS() error {
	for _, p := range []string{m.kubepods(), m.qosCgroup(corev1.PodQOSBurstable), m.qosCgroup(corev1.PodQOSBestEffort)} {
		if err := create(p); err != nil {
			return err
		}
	}
	return nil
}

func create(p string) error {
	mgr, err := manager(p)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", p, err)
	}
	if err := mgr.Apply(-1); err != nil {
		return fmt.Errorf("creating cgroup %s: %w", p, err)
	}
	return nil
}

// createPod creates the pod cgroup and returns its path.
func (m *cgroupManager) createPod(pod *corev1.Pod) (string, error) {
	p := m.podCgroup(pod)
	return p, create(p)
}

// destroyPod kills whatever still runs in the pod's cgroup and removes it
// with its leaves (as the kubelet's pod container manager does). It tries
// every QoS parent, since the pod's class is not needed to clean up.
func (m *cgroupManager) destroyPod(uid types.UID) error {
	var errs []error
	for _, class := range []corev1.PodQOSClass{corev1.PodQOSGuaranteed, corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		if p := path.Join(m.qosCgroup(class), podCgroupPrefix+string(uid)); cgroup.Exists(p) {
			errs = append(errs, cgroup.Destroy(p))
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
		parent := m.qosCgroup(class)
		for _, cg := range cgroup.Find(parent, func(name string) bool { return strings.HasPrefix(name, podCgroupPrefix) }) {
			if path.Dir(cg) == parent {
				out[types.UID(strings.TrimPrefix(path.Base(cg), podCgroupPrefix))] = true
			}
		}
	}
	return out
}
