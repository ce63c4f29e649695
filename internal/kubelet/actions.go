package kubelet

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/prober"
)

// podActions is what one sync does to a live pod (podActions of
// kuberuntime_manager.go): kill it all, make a new sandbox, kill some
// containers, start init containers and containers.
type podActions struct {
	// killPod stops every container and the sandbox.
	killPod bool
	// createSandbox makes a new sandbox (after killPod, when there was
	// one); purgeInits then removes every init container instance, so
	// initialization starts over in it.
	createSandbox bool
	purgeInits    bool
	// initToStart are the init containers to start, in spec order; the
	// first regular one that fails to start ends the sync.
	initToStart []int
	// toStart are the regular containers to start, in spec order.
	toStart []int
	// ephemeralToStart are the ephemeral containers never started yet
	// (they never restart), in spec order.
	ephemeralToStart []int
	// toKill are running containers to stop first.
	toKill []killTarget
}

// killTarget is one container to stop and why.
type killTarget struct {
	id   string
	spec *corev1.Container
	// fieldPath names the container in events.
	fieldPath string
	// message is the Killing event's text (empty: "Stopping container
	// <name>").
	message string
	// probe is the probe whose failure kills it (its
	// terminationGracePeriodSeconds applies), if any.
	probe *corev1.Probe
	// skipPreStop: its preStop hook already ran in an earlier kill that a
	// shorter grace period cut short.
	skipPreStop bool
}

// probeResults are the published probe results the decisions go by.
type probeResults interface {
	Result(kind prober.Kind, containerID string) (prober.Result, bool)
}

// computePodActions decides what a sync of a live pod (not being deleted,
// not finished) does, from what the runtime has and the probe results
// (computePodActions and computeInitContainerActions upstream, sidecar
// aware). Back-offs are checked when a container is started, not here.
func computePodActions(pod *corev1.Pod, rp *runtimePod, probes probeResults) podActions {
	var a podActions
	if sandboxChanged(pod, rp) {
		a.killPod = len(rp.sandboxes) > 0
		a.createSandbox = true
		ran := len(rp.containers) > 0
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && len(rp.sandboxes) > 0 && ran {
			// A pod that will not restart is never given a new
			// sandbox: it is done.
			a.createSandbox = false
			return a
		}
		var toStart []int
		for i := range pod.Spec.Containers {
			cur := rp.latest(pod.Spec.Containers[i].Name)
			if pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && cur != nil &&
				cur.State == runtimeapi.ContainerState_CONTAINER_EXITED && cur.ExitCode == 0 {
				continue
			}
			toStart = append(toStart, i)
		}
		if len(toStart) == 0 && rp.anyRegular(pod) {
			a.createSandbox = false // finished: just kill
			return a
		}
		if len(pod.Spec.InitContainers) > 0 {
			// Initialization runs again, from the first init container,
			// in the new sandbox.
			a.purgeInits = a.killPod
			a.initToStart = []int{0}
			return a
		}
		a.toStart = toStart
		return a
	}
	// Ephemeral containers start once, whatever else happens in the pod
	// (initialization included), but never in a sandbox made by this
	// same sync.
	for i := range pod.Spec.EphemeralContainers {
		if rp.latest(pod.Spec.EphemeralContainers[i].Name) == nil {
			a.ephemeralToStart = append(a.ephemeralToStart, i)
		}
	}
	if !computeInitActions(pod, rp, probes, &a) || a.killPod {
		return a // initializing, or initialization failed for good
	}
	keep := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := rp.latest(c.Name)
		if cur == nil || cur.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			if shouldRestart(pod, c, cur) {
				a.toStart = append(a.toStart, i)
			}
			continue
		}
		id := rp.containerID(cur.Id)
		restart := pod.Spec.RestartPolicy != corev1.RestartPolicyNever
		var message string
		var probe *corev1.Probe
		switch {
		case specChanged(cur, c):
			message, restart = fmt.Sprintf("Container %s definition changed", c.Name), true
		case failed(probes, prober.Liveness, id):
			message, probe = fmt.Sprintf("Container %s failed liveness probe", c.Name), c.LivenessProbe
		case failed(probes, prober.Startup, id):
			message, probe = fmt.Sprintf("Container %s failed startup probe", c.Name), c.StartupProbe
		default:
			keep++
			continue
		}
		if restart {
			message += ", will be restarted"
			a.toStart = append(a.toStart, i)
		}
		a.toKill = append(a.toKill, killTarget{id: cur.Id, spec: c, fieldPath: containerFieldPath(c.Name, false), message: message, probe: probe})
	}
	if keep == 0 && len(a.toStart) == 0 {
		// Every regular container is done for good: so is the pod, and
		// its sidecars are not kept alive.
		a.killPod, a.initToStart = true, nil
	}
	return a
}

// computeInitActions is computeInitContainerActions: it adds the init
// containers to start (and sidecars to kill) to a, and reports whether the
// pod is initialized. It walks the init containers from the last one, as
// upstream does, so that the newest evidence of progress wins; regular
// init containers run one at a time, and the next init container starts
// once a sidecar before it is started.
func computeInitActions(pod *corev1.Pod, rp *runtimePod, probes probeResults, a *podActions) bool {
	inits := pod.Spec.InitContainers
	if len(inits) == 0 {
		return true
	}
	// A regular container created or running means initialization was
	// done, even if old init instances are gone (an exited one does
	// not: after a reboot all are exited and the new sandbox starts
	// over).
	initialized := false
	for i := range pod.Spec.Containers {
		if cur := rp.latest(pod.Spec.Containers[i].Name); cur != nil &&
			(cur.State == runtimeapi.ContainerState_CONTAINER_CREATED || cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING) {
			initialized = true
			break
		}
	}
	seen := initialized // a later init container has made progress
	var start []int
	for i := len(inits) - 1; i >= 0; i-- {
		c := &inits[i]
		sidecar := prober.IsSidecar(c)
		cur := rp.latest(c.Name)
		if cur == nil {
			if seen && sidecar {
				start = append(start, i)
			}
			continue
		}
		if seen && !sidecar {
			continue // done before a later one ran
		}
		last := i == len(inits)-1
		id := rp.containerID(cur.Id)
		switch cur.State {
		case runtimeapi.ContainerState_CONTAINER_CREATED:
			start = append(start, i) // its start failed: again
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			if !sidecar {
				break // wait for it to finish
			}
			if c.StartupProbe != nil {
				r, ok := probes.Result(prober.Startup, id)
				if ok && r == prober.Failure {
					a.toKill = append(a.toKill, killTarget{id: cur.Id, spec: c, fieldPath: containerFieldPath(c.Name, true),
						message: fmt.Sprintf("Init container %s failed startup probe", c.Name), probe: c.StartupProbe})
					start = append(start, i)
					break
				}
				if !ok || r != prober.Success {
					break // not started yet: the next one waits
				}
			}
			if last {
				initialized = true
			} else if !seen && rp.latest(inits[i+1].Name) == nil {
				start = append(start, i+1)
			}
			if specChanged(cur, c) {
				a.toKill = append(a.toKill, killTarget{id: cur.Id, spec: c, fieldPath: containerFieldPath(c.Name, true),
					message: fmt.Sprintf("Init container %s definition changed", c.Name)})
				start = append(start, i)
			} else if failed(probes, prober.Liveness, id) {
				a.toKill = append(a.toKill, killTarget{id: cur.Id, spec: c, fieldPath: containerFieldPath(c.Name, true),
					message: fmt.Sprintf("Init container %s failed liveness probe", c.Name), probe: c.LivenessProbe})
				start = append(start, i)
			}
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			switch {
			case sidecar:
				start = append(start, i) // kept running, whatever the exit
			case cur.ExitCode != 0 || cur.Reason == "OOMKilled":
				if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
					a.killPod, a.initToStart = true, nil
					return false
				}
				start = append(start, i)
			case last:
				initialized = true
			case !seen && rp.latest(inits[i+1].Name) == nil:
				start = append(start, i+1)
			}
		default:
			if !sidecar && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				a.killPod, a.initToStart = true, nil
				return false
			}
			a.toKill = append(a.toKill, killTarget{id: cur.Id, spec: c, fieldPath: containerFieldPath(c.Name, true),
				message: fmt.Sprintf("Init container is in %q state, try killing it before restart", "unknown")})
			start = append(start, i)
		}
		seen = true
	}
	if !seen {
		start = append(start, 0) // nothing ran yet
	}
	slices.Sort(start)
	a.initToStart = slices.Compact(start)
	return initialized
}

// sandboxChanged is PodSandboxChanged: no sandbox, more than one ready,
// the newest not ready (pause died, the node rebooted, the pod was
// killed), or a pod-network sandbox without an IP.
func sandboxChanged(pod *corev1.Pod, rp *runtimePod) bool {
	if len(rp.sandboxes) == 0 {
		return true
	}
	ready := 0
	for _, sb := range rp.sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			ready++
		}
	}
	newest := rp.sandboxes[0]
	return ready > 1 || newest.State != runtimeapi.PodSandboxState_SANDBOX_READY ||
		(!pod.Spec.HostNetwork && newest.GetNetwork().GetIp() == "")
}

// shouldRestart is ShouldContainerBeRestarted for a container whose newest
// instance is cur (nil: never created). Sidecars restart whatever the
// pod's policy.
func shouldRestart(pod *corev1.Pod, c *corev1.Container, cur *runtimeapi.ContainerStatus) bool {
	switch {
	case pod.DeletionTimestamp != nil:
		return false
	case cur == nil:
		return true
	case cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
		return false
	case cur.State != runtimeapi.ContainerState_CONTAINER_EXITED:
		return true // created but never started, or unknown
	case prober.IsSidecar(c):
		return true
	}
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return cur.ExitCode != 0
	}
	return true
}

// failed reports whether kind's published result for a container is a
// failure.
func failed(probes probeResults, kind prober.Kind, id string) bool {
	r, ok := probes.Result(kind, id)
	return ok && r == prober.Failure
}

// specChanged reports whether a running container was made from another
// version of its spec: since only the image of a pod's container may
// change, that means another image (upstream hashes name and image since
// 1.34 for the same reason). An instance made before peapod hashed this way
// carries the hash of the whole spec, which is accepted as well.
func specChanged(cur *runtimeapi.ContainerStatus, c *corev1.Container) bool {
	h := cur.GetAnnotations()[annotationHash]
	return h != "" && h != containerHash(c) && h != legacyContainerHash(c)
}

// fieldPathOf names any container of pod in events, ephemeral ones
// included.
func fieldPathOf(pod *corev1.Pod, name string, init bool) string {
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return "spec.ephemeralContainers{" + name + "}"
		}
	}
	return containerFieldPath(name, init)
}

func containerFieldPath(name string, init bool) string {
	if init {
		return "spec.initContainers{" + name + "}"
	}
	return "spec.containers{" + name + "}"
}
