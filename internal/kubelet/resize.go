package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/cgroups"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/prober"
	"github.com/peapod/peapod/internal/scheduler"
)

// In-place pod resize (KEP 1287: the pods/resize subresource), as the
// kubelet's allocation manager and SyncPod do it. A pod's containers run
// with the resources the kubelet *allocated* to them; a newer request in
// the spec is allocated once it fits the node (else the pod shows
// PodResizePending, Infeasible or Deferred), then *actuated*: the pod
// cgroup and each running container's cgroup get the new values
// (UpdateContainerResources), with PodResizeInProgress while that is under
// way or failed. Containers whose resizePolicy says RestartContainer for
// a changed resource are restarted instead.

// Condition reasons and event reasons of in-place resize
// (pkg/apis/core/types.go, pkg/kubelet/events).
const (
	reasonResizeInfeasible = "Infeasible"
	reasonResizeDeferred   = "Deferred"
	reasonResizeError      = "Error"

	eventResizeStarted    = "ResizeStarted"
	eventResizeCompleted  = "ResizeCompleted"
	eventResizeInfeasible = "ResizeInfeasible"
	eventResizeDeferred   = "ResizeDeferred"
	eventResizeError      = "ResizeError"
)

// resizeState is one pod's allocation: the resources the kubelet gave
// each resizable container (regular containers and sidecars), and the
// resize conditions it reports.
type resizeState struct {
	allocated map[string]corev1.ResourceRequirements
	// pending is PodResizePending (nil: none); progress is
	// PodResizeInProgress (nil: none).
	pending, progress *corev1.PodCondition
}

// resizable lists the containers a resize may change: the regular ones
// and the sidecars.
func resizable(pod *corev1.Pod) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.InitContainers {
		if prober.IsSidecar(&pod.Spec.InitContainers[i]) {
			out = append(out, &pod.Spec.InitContainers[i])
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

func specResources(pod *corev1.Pod) map[string]corev1.ResourceRequirements {
	out := map[string]corev1.ResourceRequirements{}
	for _, c := range resizable(pod) {
		out[c.Name] = *c.Resources.DeepCopy()
	}
	return out
}

// allocatedPod is pod with its containers' allocated resources in place
// of what the spec asks for (pod itself when they are the same): what the
// kubelet runs, creates containers and sizes cgroups by.
func (k *Kubelet) allocatedPod(pod *corev1.Pod) *corev1.Pod {
	k.mu.Lock()
	rs := k.resizes[pod.UID]
	var allocated map[string]corev1.ResourceRequirements
	if rs != nil {
		allocated = rs.allocated
	}
	k.mu.Unlock()
	out := pod
	for _, c := range resizable(pod) {
		a, ok := allocated[c.Name]
		if !ok || apiequality.Semantic.DeepEqual(a, c.Resources) {
			continue
		}
		if out == pod {
			out = pod.DeepCopy()
		}
		for _, oc := range resizable(out) {
			if oc.Name == c.Name {
				oc.Resources = *a.DeepCopy()
			}
		}
	}
	return out
}

// admitResize allocates what the spec asks for when it differs from the
// allocation and fits the node (handlePodResourcesResize): a pod that
// asks for more than the node's allocatable is Infeasible, one that does
// not fit next to the other pods' allocations is Deferred (and tried
// again at each sync, so it goes through once room frees up). A pod seen
// for the first time gets its spec allocated.
func (k *Kubelet) admitResize(pod *corev1.Pod) {
	desired := specResources(pod)
	k.mu.Lock()
	rs := k.resizes[pod.UID]
	if rs == nil {
		// After a restart, the allocation the status reports holds (a
		// resize still pending stays pending); a new pod gets its spec.
		allocated := allocationFromStatus(pod)
		if allocated == nil {
			allocated = desired
		}
		rs = &resizeState{allocated: allocated}
		k.resizes[pod.UID] = rs
	}
	same := apiequality.Semantic.DeepEqual(desired, rs.allocated)
	if same {
		rs.pending = nil
	}
	k.mu.Unlock()
	if same {
		return
	}
	pending := k.resizeFits(pod)
	k.mu.Lock()
	changed := (pending == nil) != (rs.pending == nil) ||
		(pending != nil && (pending.Reason != rs.pending.Reason || pending.Message != rs.pending.Message))
	rs.pending = pending
	if pending == nil {
		rs.allocated = desired
		rs.progress = &corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue}
	}
	k.mu.Unlock()
	switch {
	case pending == nil:
		k.cfg.Recorder.Eventf(pod, "", events.Normal, eventResizeStarted, "Pod resize started: %s", resizeMessage(pod, ""))
	case changed && pending.Reason == reasonResizeInfeasible:
		k.cfg.Recorder.Eventf(pod, "", events.Warning, eventResizeInfeasible, "Pod resize Infeasible: %s", resizeMessage(pod, ""))
	case changed:
		k.cfg.Recorder.Eventf(pod, "", events.Warning, eventResizeDeferred, "Pod resize Deferred: %s", resizeMessage(pod, ""))
	}
}

// allocationFromStatus rebuilds the allocation a pod's status reports
// (allocatedResources for the requests, resources for the limits), or
// nil when a resizable container has none reported.
func allocationFromStatus(pod *corev1.Pod) map[string]corev1.ResourceRequirements {
	statuses := map[string]*corev1.ContainerStatus{}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for i := range list {
			statuses[list[i].Name] = &list[i]
		}
	}
	out := map[string]corev1.ResourceRequirements{}
	for _, c := range resizable(pod) {
		cs := statuses[c.Name]
		if cs == nil || cs.Resources == nil {
			return nil
		}
		r := corev1.ResourceRequirements{Requests: cs.AllocatedResources.DeepCopy(), Limits: cs.Resources.Limits.DeepCopy()}
		// What the status does not carry (other resources, claims)
		// is the spec's.
		for name, q := range c.Resources.Requests {
			if _, ok := r.Requests[name]; !ok && name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				if r.Requests == nil {
					r.Requests = corev1.ResourceList{}
				}
				r.Requests[name] = q
			}
		}
		for name, q := range c.Resources.Limits {
			if _, ok := r.Limits[name]; !ok && name != corev1.ResourceCPU && name != corev1.ResourceMemory {
				if r.Limits == nil {
					r.Limits = corev1.ResourceList{}
				}
				r.Limits[name] = q
			}
		}
		r.Claims = c.Resources.Claims
		out[c.Name] = r
	}
	return out
}

// resizeFits checks the pod's new requests against the node: nil when
// they fit, else the PodResizePending condition saying why
// (canResizePod; the messages of the allocation manager and of the
// kubelet's resource predicate).
func (k *Kubelet) resizeFits(pod *corev1.Pod) *corev1.PodCondition {
	requests := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	used := corev1.ResourceList{}
	k.mu.Lock()
	others := make([]*corev1.Pod, 0, len(k.pods))
	for uid, p := range k.pods {
		if uid != pod.UID && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil {
			others = append(others, p)
		}
	}
	k.mu.Unlock()
	for i, p := range others {
		others[i] = k.allocatedPod(p)
	}
	scheduler.AddRequests(used, others)
	value := requestValue
	// Memory first, as upstream.
	for _, name := range []corev1.ResourceName{corev1.ResourceMemory, corev1.ResourceCPU} {
		want, ok := requests[name]
		if !ok {
			continue
		}
		capacity := k.allocatable(name)
		if want.Cmp(capacity) > 0 {
			return &corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: reasonResizeInfeasible,
				Message: fmt.Sprintf("Node didn't have enough capacity: %s, requested: %d, capacity: %d", name, value(name, want), value(name, capacity))}
		}
		total := used[name].DeepCopy()
		total.Add(want)
		if total.Cmp(capacity) > 0 {
			return &corev1.PodCondition{Type: corev1.PodResizePending, Status: corev1.ConditionTrue, Reason: reasonResizeDeferred,
				Message: fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
					name, value(name, want), value(name, used[name]), value(name, capacity))}
		}
	}
	return nil
}

// resizeTarget is one running container whose cgroup values differ from
// its allocation.
type resizeTarget struct {
	spec    *corev1.Container
	id      string
	want    *runtimeapi.LinuxContainerResources
	restart bool
}

// resizeTargets lists the running containers of the allocated pod whose
// cgroup values, as the runtime reports them, differ from what the
// allocation gives.
func (k *Kubelet) resizeTargets(pod *corev1.Pod, rp *runtimePod) []resizeTarget {
	var out []resizeTarget
	for _, c := range resizable(pod) {
		inst := rp.instances(c.Name)
		if len(inst) == 0 || inst[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		have := inst[0].GetResources().GetLinux()
		if have == nil {
			continue // a runtime that does not report them: nothing to compare
		}
		want := containerResources(pod, c, k.memoryCapacity())
		cpuChanged := have.CpuShares != want.CpuShares || have.CpuQuota != want.CpuQuota
		memoryChanged := have.MemoryLimitInBytes != want.MemoryLimitInBytes
		if !cpuChanged && !memoryChanged {
			continue
		}
		t := resizeTarget{spec: c, id: inst[0].Id, want: want}
		for _, p := range c.ResizePolicy {
			if p.RestartPolicy == corev1.RestartContainer &&
				((p.ResourceName == corev1.ResourceCPU && cpuChanged) || (p.ResourceName == corev1.ResourceMemory && memoryChanged)) {
				t.restart = true
			}
		}
		out = append(out, t)
	}
	return out
}

// actuateResize brings the running containers and the pod cgroup to the
// allocation (doPodResizeAction): the pod cgroup's limits are lifted while
// the containers change (each container keeps its own limits meanwhile,
// so nothing runs unbounded), the containers are updated, or restarted
// where their resizePolicy asks, then the pod cgroup gets its new values
// and the Burstable QoS cgroup its new shares. It reports whether anything
// changed.
func (k *Kubelet) actuateResize(ctx context.Context, pod *corev1.Pod, rp *runtimePod) (bool, error) {
	if rp.readySandbox() == nil {
		return false, nil
	}
	targets := k.resizeTargets(pod, rp)
	if len(targets) == 0 {
		k.setResizeProgress(pod, nil)
		return false, nil
	}
	k.setResizeProgress(pod, &corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue})
	podValues := podResources(pod, k.cfg.PodPidsLimit)
	if err := k.memoryDecreaseFits(pod, podValues, targets); err != nil {
		return true, k.resizeFailed(pod, err)
	}
	lifted := *podValues
	lifted.Memory, lifted.CpuQuota = -1, -1
	err := k.cgroups.setPod(pod, &lifted)
	for _, t := range targets {
		if err != nil {
			break
		}
		if t.restart {
			// Stopped here; the next sync starts it with the new values.
			err = k.killContainer(ctx, pod, killTarget{id: t.id, spec: t.spec, fieldPath: fieldPathOf(pod, t.spec.Name, false),
				message: fmt.Sprintf("Container %s resize requires restart", t.spec.Name)}, nil, nil)
			continue
		}
		_, err = k.cfg.Runtime.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: t.id, Linux: t.want})
		if err != nil {
			err = fmt.Errorf("updating the resources of container %s: %w", t.spec.Name, err)
		}
	}
	if err == nil {
		err = k.cgroups.setPod(pod, podValues)
	}
	k.updateBurstable("")
	if err != nil {
		// The pod cgroup goes back to bounds it can hold.
		_ = k.cgroups.setPod(pod, podValues)
		return true, k.resizeFailed(pod, err)
	}
	k.setResizeProgress(pod, nil)
	k.cfg.Recorder.Eventf(pod, "", events.Normal, eventResizeCompleted, "Pod resize completed: %s", resizeMessage(pod, ""))
	return true, nil
}

// resizeFailed reports a failed actuation: PodResizeInProgress with
// reason Error, and a ResizeError event; the next sync tries again.
func (k *Kubelet) resizeFailed(pod *corev1.Pod, err error) error {
	k.setResizeProgress(pod, &corev1.PodCondition{Type: corev1.PodResizeInProgress, Status: corev1.ConditionTrue,
		Reason: reasonResizeError, Message: err.Error()})
	k.cfg.Recorder.Eventf(pod, "", events.Warning, eventResizeError, "Pod resize error: %s", resizeMessage(pod, err.Error()))
	return err
}

// memoryDecreaseFits is the kubelet's best-effort guard before lowering
// memory limits (Kubernetes 1.34): a pod or container whose memory in use
// (its working set) is at or above its new limit is not resized, since
// the kernel would have to OOM-kill to get there.
func (k *Kubelet) memoryDecreaseFits(pod *corev1.Pod, podValues *cgroups.Resources, targets []resizeTarget) error {
	var problems []string
	if podValues.Memory > 0 {
		if u, err := cgroup.ReadUsage(k.cgroups.podPath(pod)); err == nil && int64(u.WorkingSet) >= podValues.Memory {
			problems = append(problems, fmt.Sprintf("attempting to set pod memory limit (%d) below current usage (%d)", podValues.Memory, u.WorkingSet))
		}
	}
	for _, t := range targets {
		if t.want.MemoryLimitInBytes <= 0 || t.restart {
			continue
		}
		path := k.cgroups.containerPath(pod, t.id)
		if path == "" {
			continue // no cgroup to read (a runtime without one)
		}
		u, err := cgroup.ReadUsage(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("missing container %q memory usage", t.spec.Name))
			continue
		}
		if int64(u.WorkingSet) >= t.want.MemoryLimitInBytes {
			problems = append(problems, fmt.Sprintf("attempting to set container %q memory limit (%d) below current usage (%d)", t.spec.Name, t.want.MemoryLimitInBytes, u.WorkingSet))
		}
	}
	switch len(problems) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("cannot decrease memory limits: %s", problems[0])
	}
	return fmt.Errorf("cannot decrease memory limits: [%s]", strings.Join(problems, ", "))
}

// resizeMessage is the JSON of the Resize* events: the resources the spec
// asks for, by container (sidecars as initContainers), the generation,
// and the error if any.
func resizeMessage(pod *corev1.Pod, errText string) string {
	type containerResources struct {
		Name      string                      `json:"name"`
		Resources corev1.ResourceRequirements `json:"resources"`
	}
	msg := struct {
		InitContainers []containerResources `json:"initContainers,omitempty"`
		Containers     []containerResources `json:"containers,omitempty"`
		Generation     int64                `json:"generation"`
		Error          string               `json:"error,omitempty"`
	}{Generation: pod.Generation, Error: errText}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; prober.IsSidecar(c) {
			msg.InitContainers = append(msg.InitContainers, containerResources{c.Name, c.Resources})
		}
	}
	for _, c := range pod.Spec.Containers {
		msg.Containers = append(msg.Containers, containerResources{c.Name, c.Resources})
	}
	b, _ := json.Marshal(msg)
	return string(b)
}

func (k *Kubelet) setResizeProgress(pod *corev1.Pod, c *corev1.PodCondition) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if rs := k.resizes[pod.UID]; rs != nil {
		rs.progress = c
	}
}

// resizeConditions are the pod's PodResizePending and PodResizeInProgress
// conditions, as they stand.
func (k *Kubelet) resizeConditions(uid types.UID) []corev1.PodCondition {
	k.mu.Lock()
	defer k.mu.Unlock()
	rs := k.resizes[uid]
	if rs == nil {
		return nil
	}
	var out []corev1.PodCondition
	for _, c := range []*corev1.PodCondition{rs.pending, rs.progress} {
		if c != nil {
			out = append(out, *c)
		}
	}
	return out
}

// allocatedResources is a container's allocated requests
// (containerStatuses[].allocatedResources).
func (k *Kubelet) allocatedResources(pod *corev1.Pod, name string) corev1.ResourceList {
	k.mu.Lock()
	defer k.mu.Unlock()
	rs := k.resizes[pod.UID]
	if rs == nil {
		return nil
	}
	a, ok := rs.allocated[name]
	if !ok || len(a.Requests) == 0 {
		return nil
	}
	return a.Requests.DeepCopy()
}

// actualResources is what a running container has, from the runtime's
// report, in the API's terms (containerStatuses[].resources): the CPU
// request from the shares and the limit from the CFS quota, the memory
// limit; where they are what the allocation gives, the allocation's own
// quantities, and the memory request from it (a request is no cgroup
// value).
func actualResources(alloc corev1.ResourceRequirements, have *runtimeapi.LinuxContainerResources) *corev1.ResourceRequirements {
	if have == nil {
		return nil
	}
	out := &corev1.ResourceRequirements{}
	set := func(l *corev1.ResourceList, name corev1.ResourceName, q resource.Quantity) {
		if *l == nil {
			*l = corev1.ResourceList{}
		}
		(*l)[name] = q
	}
	if req, ok := alloc.Requests[corev1.ResourceCPU]; ok && milliCPUToShares(req.MilliValue()) == have.CpuShares {
		set(&out.Requests, corev1.ResourceCPU, req)
	} else if have.CpuShares > minShares {
		set(&out.Requests, corev1.ResourceCPU, *resource.NewMilliQuantity(have.CpuShares*1000/1024, resource.DecimalSI))
	}
	if req, ok := alloc.Requests[corev1.ResourceMemory]; ok {
		set(&out.Requests, corev1.ResourceMemory, req)
	}
	if have.CpuQuota > 0 && have.CpuPeriod > 0 {
		if lim, ok := alloc.Limits[corev1.ResourceCPU]; ok && milliCPUToQuota(lim.MilliValue(), have.CpuPeriod) == have.CpuQuota {
			set(&out.Limits, corev1.ResourceCPU, lim)
		} else {
			set(&out.Limits, corev1.ResourceCPU, *resource.NewMilliQuantity(have.CpuQuota*1000/have.CpuPeriod, resource.DecimalSI))
		}
	}
	if have.MemoryLimitInBytes > 0 {
		if lim, ok := alloc.Limits[corev1.ResourceMemory]; ok && lim.Value() == have.MemoryLimitInBytes {
			set(&out.Limits, corev1.ResourceMemory, lim)
		} else {
			set(&out.Limits, corev1.ResourceMemory, *resource.NewQuantity(have.MemoryLimitInBytes, resource.BinarySI))
		}
	}
	return out
}
