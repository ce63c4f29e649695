package kubelet

import (
	"context"
	"fmt"
	goruntime "runtime"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/scheduler"
)

// Pod admission (canAdmitPod upstream): before anything of a new pod
// runs, the kubelet's admit handlers may refuse it, and it then fails at
// once (rejectPod). This matters for the pods that never went through the
// scheduler: those whose author set spec.nodeName, and static pods. The
// handlers run in upstream's order: the eviction manager's (no BestEffort
// pod under memory pressure), the sysctl allowlist, then the general
// predicates (node resources, node affinity, host ports, NoExecute
// taints). A pod is admitted once; the pods already admitted are the ones
// its requests are counted against.

// Reasons and messages of pkg/kubelet/lifecycle/predicate.go and of the
// eviction manager's admit handler.
const (
	reasonInvalidNodeInfo      = "InvalidNodeInfo"
	messageInvalidNodeInfo     = "Kubelet cannot get node info."
	reasonOSSelectorMismatch   = "PodOSSelectorNodeLabelDoesNotMatch"
	messageOSSelectorMismatch  = "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
	reasonOSNotSupported       = "PodOSNotSupported"
	messageOSNotSupported      = "Failed to admit pod as the OS field doesn't match node OS"
	insufficientResourcePrefix = "OutOf"
	nodeConditionMessageFmt    = "The node had condition: %v. "

	predicateNodeAffinity    = "NodeAffinity"
	predicateNodePorts       = "NodePorts"
	predicateTaintToleration = "TaintToleration"
	reasonTaintsNotTolerated = "node(s) had taints that the pod didn't tolerate"
)

// admission is one admit handler's refusal.
type admission struct {
	reason, message string
}

// admitted reports whether the kubelet admitted the pod already: in this
// run, or in an earlier one (the pod has a start time, which the kubelet
// sets only on pods it admitted).
func (k *Kubelet) admitted(pod *corev1.Pod) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.admittedPods[pod.UID] || pod.Status.StartTime != nil
}

// admitPod runs the admit handlers on a pod not admitted yet; nil admits
// it (and it counts from then on against the pods admitted after it).
// Admissions are one at a time, as the kubelet's HandlePodAdditions
// goes through new pods in turn.
func (k *Kubelet) admitPod(ctx context.Context, pod *corev1.Pod) *admission {
	k.admitMu.Lock()
	defer k.admitMu.Unlock()
	if a := k.admitUnderPressure(pod); a != nil {
		return a
	}
	if msg := k.sysctls.check(pod); msg != "" {
		return &admission{reasonSysctlForbidden, msg}
	}
	node, err := k.admissionNode(ctx)
	if err != nil {
		k.log.Warn("admitting a pod without the node", "pod", podRef(pod, pod.UID), "err", err)
		return &admission{reasonInvalidNodeInfo, messageInvalidNodeInfo}
	}
	if a := admitPredicates(pod, node, k.admittedOthers(pod.UID), k.isStatic(pod.UID)); a != nil {
		return a
	}
	if msg := k.lsm.appArmorRefusal(pod); msg != "" {
		return &admission{reasonAppArmor, msg}
	}
	k.mu.Lock()
	k.admittedPods[pod.UID] = true
	k.mu.Unlock()
	return nil
}

// admissionNode is the Node as the API has it or, before the node is
// registered (static pods start first), as the kubelet would register it
// (getNodeAnyWay upstream).
func (k *Kubelet) admissionNode(ctx context.Context) (*corev1.Node, error) {
	obj, err := k.cfg.Nodes.Get(ctx, "", k.cfg.NodeName)
	if err == nil {
		return obj.(*corev1.Node), nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	return k.nodeObject(ctx)
}

// admittedOthers lists the pods other than uid that the kubelet admitted
// and that still hold their resources (not finished), with their
// allocated resources.
func (k *Kubelet) admittedOthers(uid types.UID) []*corev1.Pod {
	k.mu.Lock()
	var out []*corev1.Pod
	for u, p := range k.pods {
		if u == uid || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if k.admittedPods[u] || p.Status.StartTime != nil {
			out = append(out, p)
		}
	}
	k.mu.Unlock()
	for i, p := range out {
		out[i] = k.allocatedPod(p)
	}
	return out
}

// admitUnderPressure is the eviction manager's admit handler: under
// memory pressure only critical pods, pods that are not BestEffort, and
// BestEffort pods tolerating the memory-pressure taint are admitted.
func (k *Kubelet) admitUnderPressure(pod *corev1.Pod) *admission {
	if !k.underMemoryPressure() || isCriticalPod(pod) || qos.PodQOSClass(pod) != corev1.PodQOSBestEffort {
		return nil
	}
	taint := &corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule}
	if corev1helpers.TolerationsTolerateTaint(klog.Background(), pod.Spec.Tolerations, taint, false) {
		return nil
	}
	return &admission{reasonEvicted, fmt.Sprintf(nodeConditionMessageFmt, []corev1.NodeConditionType{corev1.NodeMemoryPressure})}
}

// admitPredicates is the predicate admit handler: the pod's OS, then the
// general predicates against the node and the pods admitted before it
// (resources first, then node affinity and host ports, then the NoExecute
// taints except for static pods); the first failure is the answer. A
// critical pod that does not fit is admitted anyway: upstream would evict
// other pods to make room for it, which peapod does not do.
func admitPredicates(pod *corev1.Pod, node *corev1.Node, others []*corev1.Pod, static bool) *admission {
	// The node's OS is this system's, whatever its label says.
	if os, ok := pod.Labels[corev1.LabelOSStable]; ok && os != goruntime.GOOS {
		return &admission{reasonOSSelectorMismatch, messageOSSelectorMismatch}
	}
	if pod.Spec.OS != nil && string(pod.Spec.OS.Name) != goruntime.GOOS {
		return &admission{reasonOSNotSupported, messageOSNotSupported}
	}
	critical := static || isCriticalPod(pod)
	if a := insufficientResource(pod, node, others); a != nil && !critical {
		return a
	}
	predicate := func(name, reason string) *admission {
		return &admission{name, fmt.Sprintf("Predicate %s failed: %s", name, reason)}
	}
	if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
		return predicate(predicateNodeAffinity, scheduler.ReasonAffinity)
	}
	if scheduler.PortsInUse(pod, others) {
		return predicate(predicateNodePorts, scheduler.ReasonPorts)
	}
	if static {
		return nil
	}
	noExecute := func(t *corev1.Taint) bool { return t.Effect == corev1.TaintEffectNoExecute }
	if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), node.Spec.Taints, pod.Spec.Tolerations, noExecute, false); untolerated {
		return predicate(predicateTaintToleration, reasonTaintsNotTolerated)
	}
	return nil
}

// insufficientResource is NodeResourcesFit as the kubelet reports it: the
// pod count first, then cpu, memory and ephemeral storage, each against
// the node's allocatable less what the admitted pods request; reason
// OutOf<resource>, message InsufficientResourceError's.
func insufficientResource(pod *corev1.Pod, node *corev1.Node, others []*corev1.Pod) *admission {
	alloc := node.Status.Allocatable
	if max := alloc.Pods().Value(); int64(len(others))+1 > max {
		return outOf(corev1.ResourcePods, 1, int64(len(others)), max)
	}
	want := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	used := corev1.ResourceList{}
	scheduler.AddRequests(used, others)
	value := requestValue
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		w := value(name, want[name])
		if w <= 0 {
			continue
		}
		u, c := value(name, used[name]), value(name, alloc[name])
		if w > c-u {
			return outOf(name, w, u, c)
		}
	}
	return nil
}

// requestValue is a request as the kubelet's messages print it:
// millicores for cpu, the plain value otherwise.
func requestValue(name corev1.ResourceName, q resource.Quantity) int64 {
	if name == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func outOf(name corev1.ResourceName, requested, used, capacity int64) *admission {
	return &admission{insufficientResourcePrefix + string(name),
		fmt.Sprintf("Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d", name, requested, used, capacity)}
}
