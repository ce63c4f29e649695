package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/containerlog"
	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/runtime/cri"
	"github.com/peapod/peapod/internal/storage"
)

// Termination message limits of the kubelet.
const (
	maxTerminationMessageBytes = 4096
	fallbackLogLines           = 80
	fallbackLogBytes           = 2048
)

// generateStatus computes the API status of pod from what the runtime has
// (generateAPIPodStatus). terminal is true once the kubelet has decided the
// pod is finished (deleted and stopped).
func (k *Kubelet) generateStatus(w *podWorker, pod *corev1.Pod, rp *runtimePod, terminal bool) corev1.PodStatus {
	old := pod.Status
	now := metav1.NewTime(k.cfg.Now().UTC().Truncate(time.Second))
	st := corev1.PodStatus{
		QOSClass:          qos.PodQOSClass(pod),
		NominatedNodeName: old.NominatedNodeName,
		StartTime:         old.StartTime,
		PodIPs:            old.PodIPs,
		PodIP:             old.PodIP,
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if ip := k.hostIP(); ip != "" {
		st.HostIP, st.HostIPs = ip, []corev1.HostIP{{IP: ip}}
	}
	for _, sb := range rp.sandboxes {
		if ip := sb.GetNetwork().GetIp(); ip != "" {
			st.PodIP, st.PodIPs = ip, []corev1.PodIP{{IP: ip}}
			for _, extra := range sb.GetNetwork().GetAdditionalIps() {
				st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: extra.GetIp()})
			}
			break
		}
	}
	if pod.Spec.HostNetwork && st.HostIP != "" {
		st.PodIP, st.PodIPs = st.HostIP, []corev1.PodIP{{IP: st.HostIP}}
	}
	// A pod being deleted restarts nothing (ShouldContainerBeRestarted),
	// so why a container could not be restarted no longer matters.
	reasons := w.reasons
	if terminal || pod.DeletionTimestamp != nil {
		reasons = nil
	}
	st.ContainerStatuses = k.containerStatuses(pod, rp, reasons)
	st.Phase = podPhase(pod, st.ContainerStatuses, terminal)
	if old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed {
		// A terminal phase is never left (generateAPIPodStatus).
		st.Phase = old.Phase
	}
	if st.Phase == old.Phase {
		st.Reason, st.Message = old.Reason, old.Message
	}
	st.Conditions = k.conditions(pod, &st, rp, terminal, now)
	return st
}

// containerStatuses is convertToAPIContainerStatuses for regular containers.
func (k *Kubelet) containerStatuses(pod *corev1.Pod, rp *runtimePod, reasons map[string]waitingReason) []corev1.ContainerStatus {
	defaultReason := reasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		defaultReason = reasonPodInitializing
	}
	out := make([]corev1.ContainerStatus, 0, len(pod.Spec.Containers))
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
		inst := rp.instances(c.Name)
		if len(inst) == 0 {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultReason}
		} else {
			cur := inst[0]
			cs.ContainerID = cri.RuntimeName + "://" + cur.Id
			cs.Image = cur.GetImage().GetImage()
			cs.ImageID = cur.GetImageRef()
			cs.RestartCount = restartCount(cur)
			cs.State = k.containerState(cur, c)
			if cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				t := true
				cs.Started, cs.Ready = &t, true
			}
			if len(inst) > 1 && inst[1].State == runtimeapi.ContainerState_CONTAINER_EXITED {
				cs.LastTerminationState = k.containerState(inst[1], c)
			}
		}
		if r, ok := reasons[c.Name]; ok && cs.State.Running == nil {
			// A start that failed: the old terminated state moves to
			// lastState and the failure shows as waiting.
			if cs.State.Terminated != nil {
				cs.LastTerminationState = cs.State
			}
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: r.reason, Message: r.message}}
		}
		out = append(out, cs)
	}
	return out
}

// containerState converts one runtime container's state.
func (k *Kubelet) containerState(s *runtimeapi.ContainerStatus, c *corev1.Container) corev1.ContainerState {
	switch s.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(0, s.StartedAt))}}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		t := &corev1.ContainerStateTerminated{
			ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message,
			StartedAt:   metav1.NewTime(time.Unix(0, s.StartedAt)),
			FinishedAt:  metav1.NewTime(time.Unix(0, s.FinishedAt)),
			ContainerID: cri.RuntimeName + "://" + s.Id,
		}
		if msg := terminationMessage(s, c); msg != "" {
			t.Message = msg
		}
		return corev1.ContainerState{Terminated: t}
	default:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	}
}

// terminationMessage reads the container's termination-log file, or with
// FallbackToLogsOnError the tail of its log after a failure.
func terminationMessage(s *runtimeapi.ContainerStatus, c *corev1.Container) string {
	if path := s.GetAnnotations()[annotationTermFile]; path != "" {
		if f, err := os.Open(path); err == nil {
			buf := make([]byte, maxTerminationMessageBytes)
			n, _ := f.Read(buf)
			f.Close()
			if n > 0 {
				return string(buf[:n])
			}
		}
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && s.ExitCode != 0 && s.LogPath != "" {
		lines, limit := int64(fallbackLogLines), int64(fallbackLogBytes)
		var b bytes.Buffer
		_ = containerlog.Read(context.Background(), s.LogPath, containerlog.Options{TailLines: &lines, LimitBytes: &limit}, nil, &b)
		return b.String()
	}
	return ""
}

// podPhase is getPhase for pods without init containers.
func podPhase(pod *corev1.Pod, statuses []corev1.ContainerStatus, terminal bool) corev1.PodPhase {
	var unknown, running, waiting, stopped, succeeded int
	for _, cs := range statuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	unknown += len(pod.Spec.Containers) - len(statuses)
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if terminal {
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

// updateStatus writes the generated status if it differs from the API's.
// The cached pod may lag behind the kubelet's own last write, so the status
// is generated again from the stored object (startTime, transition times,
// other owners' conditions) inside the update.
func (k *Kubelet) updateStatus(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod, terminal bool) error {
	if apiequality.Semantic.DeepEqual(k.generateStatus(w, pod, rp, terminal), pod.Status) {
		return nil
	}
	becameRunning := false
	_, err := k.cfg.Pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, apierrors.NewConflict(corev1.Resource("pods"), pod.Name, fmt.Errorf("pod was replaced"))
		}
		st := k.generateStatus(w, p, rp, terminal)
		if apiequality.Semantic.DeepEqual(st, p.Status) {
			return nil, storage.ErrNoChange
		}
		becameRunning = p.Status.Phase != corev1.PodRunning && st.Phase == corev1.PodRunning
		p = p.DeepCopy()
		p.ResourceVersion = ""
		p.Status = st
		return p, nil
	}, registry.UpdateOptions{Status: true})
	if err == nil && becameRunning && !w.startObserved {
		w.startObserved = true
		k.startLatency.observe(time.Since(w.firstSeen).Seconds())
	}
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone or replaced: nothing to report on
	}
	return err
}

// unreadyNames lists containers for condition messages.
func unreadyNames(names []string) string { return "[" + strings.Join(names, " ") + "]" }
