package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/storage"
)

// The eviction manager (pkg/kubelet/eviction) for the memory.available
// signal and its hard threshold: every housekeeping interval it compares
// the node's available memory with the threshold; under pressure the node
// reports MemoryPressure and is tainted memory-pressure:NoSchedule, and one
// pod per interval is evicted, in the kubelet's order: pods using more
// memory than they request first, then lower priority, then the larger use
// beyond the request. A hard threshold gives no grace period. The
// condition clears once pressure has been gone for the transition period.

// Strings of pkg/kubelet/eviction.
const (
	reasonEvicted          = "Evicted"
	nodeLowMessageFmt      = "The node was low on resource: %v. "
	thresholdMetMessageFmt = "Threshold quantity: %v, available: %v. "
	containerMessageFmt    = "Container %s was using %s, request is %s, has larger consumption of %v. "
	disruptionByKubelet    = "TerminationByKubelet"
)

// memoryPressure is the eviction manager's view of the node.
type memoryPressure struct {
	active       bool      // the node reports MemoryPressure
	lastObserved time.Time // the signal last crossed the threshold
}

// underMemoryPressure reports the MemoryPressure condition.
func (k *Kubelet) underMemoryPressure() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pressure.active
}

// evictionLoop runs the housekeeping pass (usage samples for the resource
// metrics, then the eviction manager) until ctx ends.
func (k *Kubelet) evictionLoop(ctx context.Context) {
	t := time.NewTicker(k.cfg.HousekeepingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			k.sampleAll()
			// As upstream's synchronize: local storage first, and a pass
			// that evicted for it does nothing more.
			if k.localStorageEviction(ctx) {
				continue
			}
			k.synchronizeEviction(ctx)
		}
	}
}

// synchronizeEviction is one pass of the eviction manager.
func (k *Kubelet) synchronizeEviction(ctx context.Context) {
	capacity, workingSet, err := nodeMemory()
	if err != nil {
		k.log.Warn("reading node memory", "err", err)
		return
	}
	available := resource.NewQuantity(capacity-workingSet, resource.BinarySI)
	threshold := k.cfg.EvictionHard.Memory(capacity)
	crossed := available.Cmp(threshold) < 0
	now := k.cfg.Now()
	k.mu.Lock()
	was := k.pressure.active
	if crossed {
		k.pressure.lastObserved = now
	}
	k.pressure.active = crossed || (was && now.Sub(k.pressure.lastObserved) < k.cfg.EvictionPressureTransitionPeriod)
	active := k.pressure.active
	k.mu.Unlock()
	if active != was {
		k.log.Info("memory pressure changed", "pressure", active, "available", available.String(), "threshold", threshold.String())
		if err := k.updateNodeStatus(ctx); err != nil {
			k.log.Warn("updating node status", "err", err)
		}
		if err := k.setPressureTaint(ctx, active); err != nil {
			k.log.Warn("tainting the node", "err", err)
		}
	}
	if !crossed {
		return
	}
	victim, usages := k.evictionCandidate()
	if victim == nil {
		k.log.Warn("memory pressure, but no pod to evict", "available", available.String(), "threshold", threshold.String())
		return
	}
	msg := evictionMessage(victim, usages, threshold, *available)
	if err := k.evict(ctx, victim, msg); err != nil {
		k.log.Warn("evicting pod", "pod", podRef(victim, victim.UID), "err", err)
	}
}

// podUsage is a pod's memory working set, with its containers'.
type podUsage struct {
	pod        uint64
	containers map[string]uint64 // by container name
}

// evictionCandidate ranks the running pods (rankMemoryPressure) and
// returns the first with the usages read.
func (k *Kubelet) evictionCandidate() (*corev1.Pod, map[*corev1.Pod]podUsage) {
	k.mu.Lock()
	var pods []*corev1.Pod
	for uid, p := range k.pods {
		// Critical pods (static, mirror, of a system priority) are
		// never evicted.
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && !k.static[uid] && !isCriticalPod(p) {
			pods = append(pods, p)
		}
	}
	k.mu.Unlock()
	usages := map[*corev1.Pod]podUsage{}
	var candidates []*corev1.Pod
	for _, p := range pods {
		pu, ok := k.readPodUsage(p)
		if ok {
			usages[p] = pu
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	beyond := func(p *corev1.Pod) int64 {
		return int64(usages[p].pod) - memoryRequest(p)
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if ea, eb := beyond(a) > 0, beyond(b) > 0; ea != eb {
			return ea // exceeding its request first
		}
		if pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b); pa != pb {
			return pa < pb
		}
		return beyond(a) > beyond(b)
	})
	return candidates[0], usages
}

// memoryRequest is the eviction manager's podRequest for memory: the
// regular containers' sum or the largest init container's, whichever is
// more (with sidecars counted as the scheduler does; no overhead).
func memoryRequest(p *corev1.Pod) int64 {
	requests := resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{ExcludeOverhead: true})
	return requests.Memory().Value()
}

// readPodUsage reads a pod's cgroup and its containers'; false when the
// pod has no cgroup (not running yet).
func (k *Kubelet) readPodUsage(p *corev1.Pod) (podUsage, bool) {
	podCg := k.cgroups.podPath(p)
	u, err := readUsage(podCg)
	if err != nil {
		return podUsage{}, false
	}
	out := podUsage{pod: u.workingSet, containers: map[string]uint64{}}
	for _, cs := range p.Status.ContainerStatuses {
		_, id, ok := strings.Cut(cs.ContainerID, "://")
		if !ok || cs.State.Running == nil {
			continue
		}
		if cu, err := readUsage(k.cgroups.containerPath(p, id)); err == nil {
			out.containers[cs.Name] = cu.workingSet
		}
	}
	return out, true
}

// evictionMessage is evictionMessage of pkg/kubelet/eviction.
func evictionMessage(p *corev1.Pod, usages map[*corev1.Pod]podUsage, threshold, available resource.Quantity) string {
	msg := fmt.Sprintf(nodeLowMessageFmt, corev1.ResourceMemory)
	msg += fmt.Sprintf(thresholdMetMessageFmt, threshold.String(), available.String())
	for _, c := range p.Spec.Containers {
		used, ok := usages[p].containers[c.Name]
		if !ok {
			continue
		}
		request := c.Resources.Requests[corev1.ResourceMemory]
		u := resource.NewQuantity(int64(used), resource.BinarySI)
		if u.Cmp(request) > 0 {
			msg += fmt.Sprintf(containerMessageFmt, c.Name, u.String(), request.String(), corev1.ResourceMemory)
		}
	}
	return msg
}

// evict fails the pod with the eviction's reason and message (and the
// DisruptionTarget condition) and wakes its worker, which stops a Failed
// pod at once, without restarting anything.
func (k *Kubelet) evict(ctx context.Context, p *corev1.Pod, msg string) error {
	k.log.Info("evicting pod", "pod", podRef(p, p.UID), "qos", qos.PodQOSClass(p), "message", msg)
	now := metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second))
	err := k.failPod(ctx, p, reasonEvicted, msg, func(pod *corev1.Pod) {
		cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: disruptionByKubelet,
			Message: msg, LastTransitionTime: now}
		replaced := false
		for i := range pod.Status.Conditions {
			if pod.Status.Conditions[i].Type == corev1.DisruptionTarget {
				pod.Status.Conditions[i], replaced = cond, true
			}
		}
		if !replaced {
			pod.Status.Conditions = append(pod.Status.Conditions, cond)
		}
	})
	if err != nil {
		return err
	}
	k.cfg.Recorder.Eventf(p, "", events.Warning, reasonEvicted, "%s", msg)
	k.wake(ctx, p.UID)
	return nil
}

// setPressureTaint adds or removes node.kubernetes.io/memory-pressure:
// NoSchedule, as TaintNodesByCondition does for the MemoryPressure
// condition.
func (k *Kubelet) setPressureTaint(ctx context.Context, on bool) error {
	_, err := k.cfg.Nodes.Update(ctx, "", k.cfg.NodeName, func(cur runtime.Object) (runtime.Object, error) {
		n := cur.(*corev1.Node).DeepCopy()
		n.ResourceVersion = ""
		var taints []corev1.Taint
		had := false
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeMemoryPressure && t.Effect == corev1.TaintEffectNoSchedule {
				had = true
				continue
			}
			taints = append(taints, t)
		}
		if on == had {
			return nil, storage.ErrNoChange
		}
		if on {
			now := metav1.NewTime(k.cfg.Now())
			taints = append(taints, corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule, TimeAdded: &now})
		}
		n.Spec.Taints = taints
		return n, nil
	}, registry.UpdateOptions{})
	return err
}
