package kubelet

import (
	"context"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations the kubelet puts on sandboxes and containers, with
// upstream's keys, so that a pod's runtime objects can be found again.
const (
	labelPodName         = "io.kubernetes.pod.name"
	labelPodNamespace    = "io.kubernetes.pod.namespace"
	labelPodUID          = "io.kubernetes.pod.uid"
	labelContainerName   = "io.kubernetes.container.name"
	annotationHash       = "io.kubernetes.container.hash"
	annotationRestarts   = "io.kubernetes.container.restartCount"
	annotationTermPath   = "io.kubernetes.container.terminationMessagePath"
	annotationTermPolicy = "io.kubernetes.container.terminationMessagePolicy"
	annotationGrace      = "io.kubernetes.pod.terminationGracePeriod"
)

// runtimePod is what the runtime has for one pod (GetPodStatus upstream).
type runtimePod struct {
	// runtimeName is the runtime's name (its Version), the scheme of
	// container IDs in the API: peapod://<id>.
	runtimeName string
	// sandboxes, newest first.
	sandboxes []*runtimeapi.PodSandboxStatus
	// containers, newest first.
	containers []*runtimeapi.ContainerStatus
	// sandboxOf maps container IDs to their sandbox's.
	sandboxOf map[string]string
}

// runtimePodStatus lists the pod's sandboxes and containers.
func (k *Kubelet) runtimePodStatus(ctx context.Context, uid types.UID) (*runtimePod, error) {
	sel := map[string]string{labelPodUID: string(uid)}
	sbs, err := k.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	rp := &runtimePod{runtimeName: k.runtimeName, sandboxOf: map[string]string{}}
	for _, sb := range sbs.GetItems() {
		st, err := k.cfg.Runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id})
		if err != nil {
			continue // removed meanwhile
		}
		rp.sandboxes = append(rp.sandboxes, st.GetStatus())
	}
	ctrs, err := k.cfg.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: &runtimeapi.ContainerFilter{LabelSelector: sel}})
	if err != nil {
		return nil, err
	}
	for _, c := range ctrs.GetContainers() {
		rp.sandboxOf[c.Id] = c.PodSandboxId
		st, err := k.cfg.Runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
		if err != nil {
			continue
		}
		rp.containers = append(rp.containers, st.GetStatus())
	}
	sort.Slice(rp.sandboxes, func(i, j int) bool { return rp.sandboxes[i].CreatedAt > rp.sandboxes[j].CreatedAt })
	sort.Slice(rp.containers, func(i, j int) bool { return rp.containers[i].CreatedAt > rp.containers[j].CreatedAt })
	return rp, nil
}

// containerID is a runtime container's ID as the API shows it.
func (rp *runtimePod) containerID(id string) string { return rp.runtimeName + "://" + id }

// readySandbox returns the newest sandbox if it is ready.
func (rp *runtimePod) readySandbox() *runtimeapi.PodSandboxStatus {
	if len(rp.sandboxes) > 0 && rp.sandboxes[0].State == runtimeapi.PodSandboxState_SANDBOX_READY {
		return rp.sandboxes[0]
	}
	return nil
}

// instances returns the runtime containers of one spec container, newest
// first.
func (rp *runtimePod) instances(name string) []*runtimeapi.ContainerStatus {
	var out []*runtimeapi.ContainerStatus
	for _, c := range rp.containers {
		if c.GetLabels()[labelContainerName] == name {
			out = append(out, c)
		}
	}
	return out
}

// latest returns the newest runtime container of one spec container, or
// nil.
func (rp *runtimePod) latest(name string) *runtimeapi.ContainerStatus {
	for _, c := range rp.containers {
		if c.GetLabels()[labelContainerName] == name {
			return c
		}
	}
	return nil
}

// anyRegular reports whether the runtime has an instance of any of the
// pod's regular containers.
func (rp *runtimePod) anyRegular(pod *corev1.Pod) bool {
	for i := range pod.Spec.Containers {
		if rp.latest(pod.Spec.Containers[i].Name) != nil {
			return true
		}
	}
	return false
}

// regularInCurrentSandbox reports whether a regular container was made in
// the pod's newest sandbox (HasAnyActiveRegularContainerStarted): the pod
// initialized in it.
func (rp *runtimePod) regularInCurrentSandbox(pod *corev1.Pod) bool {
	if len(rp.sandboxes) == 0 {
		return false
	}
	for i := range pod.Spec.Containers {
		for _, c := range rp.instances(pod.Spec.Containers[i].Name) {
			if rp.sandboxOf[c.Id] == rp.sandboxes[0].Id {
				return true
			}
		}
	}
	return false
}

// running reports whether any container of the pod is created or running.
func (rp *runtimePod) running() []*runtimeapi.ContainerStatus {
	var out []*runtimeapi.ContainerStatus
	for _, c := range rp.containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING || c.State == runtimeapi.ContainerState_CONTAINER_CREATED {
			out = append(out, c)
		}
	}
	return out
}

// restartCount reads the restart count the kubelet stored on a container.
func restartCount(c *runtimeapi.ContainerStatus) int32 {
	if c == nil {
		return 0
	}
	n, _ := strconv.Atoi(c.GetAnnotations()[annotationRestarts])
	return int32(n)
}
