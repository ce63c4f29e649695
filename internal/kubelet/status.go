package kubelet

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/containerlog"
	"github.com/peapod/peapod/internal/prober"
	"github.com/peapod/peapod/internal/qos"
	"github.com/peapod/peapod/internal/registry"
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
// pod is finished (deleted and stopped). It has no side effects: it runs
// again inside the status write.
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
	if len(pod.Spec.InitContainers) > 0 {
		st.InitContainerStatuses = k.containerStatuses(pod, pod.Spec.InitContainers, old.InitContainerStatuses, rp, reasons, true)
	}
	st.ContainerStatuses = k.containerStatuses(pod, pod.Spec.Containers, old.ContainerStatuses, rp, reasons, false)
	if len(pod.Spec.EphemeralContainers) > 0 {
		st.EphemeralContainerStatuses = k.containerStatuses(pod, ephemeralSpecs(pod), old.EphemeralContainerStatuses, rp, reasons, false)
	}
	limitTerminationMessages(&st)
	if k.probes != nil {
		k.probes.UpdatePodStatus(pod, &st)
	}
	st.Phase = podPhase(pod, &st, rp, terminal)
	switch {
	case old.Phase == corev1.PodSucceeded || old.Phase == corev1.PodFailed:
		// A terminal phase is never left (generateAPIPodStatus).
		st.Phase = old.Phase
	case pastActiveDeadline(pod, k.cfg.Now()):
		st.Phase, st.Reason, st.Message = corev1.PodFailed, reasonDeadlineExceeded, messageDeadlineExceeded
	}
	if st.Phase == old.Phase && st.Reason == "" {
		st.Reason, st.Message = old.Reason, old.Message
	}
	st.Conditions = k.conditions(pod, &st, rp, terminal, now)
	return st
}

// containerStatuses is convertToAPIContainerStatuses for the regular or the
// init containers: the newest runtime instance gives the state, the one
// before it lastState; a container without one keeps a terminated state it
// had, else waits (ContainerCreating, or PodInitializing in a pod with init
// containers); one that vanished while running is ContainerStatusUnknown;
// one that should start again but could not shows why (the reason cache).
func (k *Kubelet) containerStatuses(pod *corev1.Pod, specs []corev1.Container, old []corev1.ContainerStatus, rp *runtimePod,
	reasons map[string]waitingReason, init bool) []corev1.ContainerStatus {
	defaultReason := reasonContainerCreating
	if len(pod.Spec.InitContainers) > 0 {
		defaultReason = reasonPodInitializing
	}
	oldByName := map[string]*corev1.ContainerStatus{}
	for i := range old {
		oldByName[old[i].Name] = &old[i]
	}
	// What each container was allocated (the spec, unless a resize of
	// it is pending); ephemeral containers have none.
	allocated := map[string]corev1.ResourceRequirements{}
	ap := k.allocatedPod(pod)
	for _, list := range [][]corev1.Container{ap.Spec.InitContainers, ap.Spec.Containers} {
		for i := range list {
			allocated[list[i].Name] = list[i].Resources
		}
	}
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		c := &specs[i]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool),
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: defaultReason}}}
		prev := oldByName[c.Name]
		inst := rp.instances(c.Name)
		switch {
		case len(inst) > 0:
			cur := inst[0]
			cs.ContainerID = k.runtimeName + "://" + cur.Id
			cs.Image = cur.GetImage().GetImage()
			cs.ImageID = cur.GetImageRef()
			cs.RestartCount = restartCount(cur)
			cs.State = k.containerState(cur, c)
			cs.StopSignal = stopSignal(cur)
			if len(inst) > 1 && inst[1].State == runtimeapi.ContainerState_CONTAINER_EXITED {
				cs.LastTerminationState = k.containerState(inst[1], c)
			}
			cs.User = containerUser(cur.GetUser())
			if a, ok := allocated[c.Name]; ok {
				if len(a.Requests) > 0 {
					cs.AllocatedResources = a.Requests.DeepCopy()
				}
				if cur.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
					cs.Resources = actualResources(a, cur.GetResources().GetLinux())
				}
			}
		case prev != nil && prev.State.Terminated != nil:
			// Its instances are gone (purged init containers): what was
			// reported stays.
			cs = *prev.DeepCopy()
		case prev != nil:
			// No instance: the restart count and last state reported
			// stay, as upstream's defaults. One that ran without a
			// known last termination was lost by the runtime.
			cs.RestartCount = prev.RestartCount
			cs.LastTerminationState = *prev.LastTerminationState.DeepCopy()
			if prev.State.Running != nil && cs.LastTerminationState.Terminated == nil {
				cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: reasonContainerStatusUnknown, ExitCode: 137,
					Message: "The container could not be located when the pod was deleted.  The container used to be Running",
				}}
				if pod.DeletionTimestamp == nil {
					cs.RestartCount++
				}
			}
		}
		var cur *runtimeapi.ContainerStatus
		if len(inst) > 0 {
			cur = inst[0]
		}
		r, ok := reasons[c.Name]
		doneInit := init && !prober.IsSidecar(c) && cur != nil && cur.State == runtimeapi.ContainerState_CONTAINER_EXITED && cur.ExitCode == 0
		if ok && !doneInit && shouldRestart(pod, c, cur) {
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

// containerUser is the identity the runtime reports a container's
// process runs with (containerStatuses[].user, SupplementalGroupsPolicy).
func containerUser(u *runtimeapi.ContainerUser) *corev1.ContainerUser {
	l := u.GetLinux()
	if l == nil {
		return nil
	}
	return &corev1.ContainerUser{Linux: &corev1.LinuxContainerUser{UID: l.GetUid(), GID: l.GetGid(), SupplementalGroups: l.GetSupplementalGroups()}}
}

// reasonContainerStatusUnknown is what a container the runtime lost ends
// as.
const reasonContainerStatusUnknown = "ContainerStatusUnknown"

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
			ContainerID: k.runtimeName + "://" + s.Id,
		}
		if msg := terminationMessage(s, c); msg != "" {
			if t.Message != "" {
				t.Message += ": " + msg
			} else {
				t.Message = msg
			}
		}
		return corev1.ContainerState{Terminated: t}
	default:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}
	}
}

// stopSignal is the signal the runtime stops the container with, as the
// status reports it.
func stopSignal(s *runtimeapi.ContainerStatus) *corev1.Signal {
	if s.GetStopSignal() == runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT {
		return nil
	}
	name, ok := runtimeapi.Signal_name[int32(s.GetStopSignal())]
	if !ok {
		return nil
	}
	sig := corev1.Signal(strings.NewReplacer("PLUS", "+", "MINUS", "-").Replace(strings.TrimPrefix(name, "SIGNAL_")))
	return &sig
}

// terminationMessage reads the last 4 KiB of the container's
// termination-log file; with FallbackToLogsOnError and a failure that left
// the file empty, the last 80 lines (2 KiB at most) of its log
// (getTerminationMessage upstream).
func terminationMessage(s *runtimeapi.ContainerStatus, c *corev1.Container) string {
	if path := s.GetAnnotations()[annotationTermFile]; path != "" {
		msg, err := readTail(path, maxTerminationMessageBytes)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Sprintf("Error on reading termination log %s: %v", path, err)
		}
		if msg != "" {
			return msg
		}
	}
	if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && s.ExitCode != 0 &&
		s.Reason != "ContainerCannotRun" && s.LogPath != "" {
		lines, limit := int64(fallbackLogLines), int64(fallbackLogBytes)
		var b bytes.Buffer
		if err := containerlog.Read(context.Background(), s.LogPath, containerlog.Options{TailLines: &lines}, nil, &b); err != nil {
			return fmt.Sprintf("Error on reading termination message from logs: %v", err)
		}
		out := b.Bytes()
		if int64(len(out)) > limit {
			out = out[int64(len(out))-limit:]
		}
		return string(out)
	}
	return ""
}

// readTail reads the last n bytes of a file.
func readTail(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && err != io.EOF {
		return "", err
	}
	return string(buf), nil
}

// maxPodTerminationMessage is how much termination message a pod's status
// carries in all; each container gets an equal share (normalizeStatus
// upstream).
const maxPodTerminationMessage = 12 << 10

func limitTerminationMessages(st *corev1.PodStatus) {
	n := len(st.ContainerStatuses) + len(st.InitContainerStatuses)
	if n == 0 {
		return
	}
	share := maxPodTerminationMessage / n
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range list {
			for _, t := range []*corev1.ContainerStateTerminated{list[i].State.Terminated, list[i].LastTerminationState.Terminated} {
				if t != nil && len(t.Message) > share {
					t.Message = t.Message[:share]
				}
			}
		}
	}
}

// updateStatus writes the generated status if it differs from the API's.
// The cached pod may lag behind the kubelet's own last write, so the status
// is generated again from the stored object (startTime, transition times,
// other owners' conditions) inside the update.
func (k *Kubelet) updateStatus(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod, terminal bool) error {
	if k.isStatic(pod.UID) {
		return k.updateStaticStatus(ctx, w, pod, rp, terminal)
	}
	st := k.generateStatus(w, pod, rp, terminal)
	k.setStatus(pod.UID, &st)
	if apiequality.Semantic.DeepEqual(st, pod.Status) {
		return nil
	}
	becameRunning := false
	_, err := k.cfg.Pods.Update(ctx, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
		p := cur.(*corev1.Pod)
		if p.UID != pod.UID {
			return nil, apierrors.NewConflict(corev1.Resource("pods"), pod.Name, fmt.Errorf("pod was replaced"))
		}
		st := k.generateStatus(w, p, rp, terminal)
		k.setStatus(pod.UID, &st)
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

// setStatus keeps the pod's newest generated status for the probes.
func (k *Kubelet) setStatus(uid types.UID, st *corev1.PodStatus) {
	k.mu.Lock()
	k.statuses[uid] = st
	k.mu.Unlock()
}

// unreadyNames lists containers for condition messages.
func unreadyNames(names []string) string { return "[" + strings.Join(names, " ") + "]" }

// ephemeralSpecs are the ephemeral containers as containers (the fields
// they share).
func ephemeralSpecs(pod *corev1.Pod) []corev1.Container {
	out := make([]corev1.Container, len(pod.Spec.EphemeralContainers))
	for i := range pod.Spec.EphemeralContainers {
		out[i] = corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
	}
	return out
}
