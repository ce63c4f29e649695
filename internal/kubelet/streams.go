package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
)

// Exec, attach and port-forward (GetExec, GetAttach, GetPortForward of the
// kubelet): the runtime's streaming server runs the session; the kubelet
// finds the container or sandbox and asks the runtime for the session's
// URL, which the API server then proxies the client to.

// ExecURL returns the URL of an exec session in a running container of pod.
func (k *Kubelet) ExecURL(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin, stdout, stderr, tty bool) (*url.URL, error) {
	id, err := k.runningContainer(ctx, pod, container)
	if err != nil {
		return nil, err
	}
	resp, err := k.cfg.Runtime.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: cmd, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, goneContainer(err, container)
	}
	return url.Parse(resp.GetUrl())
}

// AttachURL returns the URL of a session attached to a running container's
// standard streams.
func (k *Kubelet) AttachURL(ctx context.Context, pod *corev1.Pod, container string, stdin, stdout, stderr, tty bool) (*url.URL, error) {
	id, err := k.runningContainer(ctx, pod, container)
	if err != nil {
		return nil, err
	}
	spec := findContainer(pod, container)
	// A terminal only where the container has one.
	tty = tty && spec != nil && spec.TTY
	resp, err := k.cfg.Runtime.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		return nil, goneContainer(err, container)
	}
	return url.Parse(resp.GetUrl())
}

// PortForwardURL returns the URL of a port-forward session into pod's
// network namespace.
func (k *Kubelet) PortForwardURL(ctx context.Context, pod *corev1.Pod, ports []int32) (*url.URL, error) {
	rp, err := k.runtimePodStatus(ctx, k.runtimeUID(pod))
	if err != nil {
		return nil, err
	}
	sb := rp.readySandbox()
	if sb == nil {
		return nil, streamNotFound(fmt.Sprintf("pod %q has no running sandbox", pod.Name))
	}
	resp, err := k.cfg.Runtime.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: sb.Id, Port: ports})
	if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrFailedPrecondition) {
		// The sandbox stopped since it was listed.
		return nil, streamNotFound(fmt.Sprintf("pod %q has no running sandbox", pod.Name))
	}
	if err != nil {
		return nil, err
	}
	return url.Parse(resp.GetUrl())
}

// runningContainer is the runtime ID of a container of pod that runs (its
// newest instance), or kubelet's "container not found" error.
func (k *Kubelet) runningContainer(ctx context.Context, pod *corev1.Pod, name string) (string, error) {
	rp, err := k.runtimePodStatus(ctx, k.runtimeUID(pod))
	if err != nil {
		return "", err
	}
	c := rp.latest(name)
	if c == nil || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return "", streamNotFound(fmt.Sprintf("container not found (%q)", name))
	}
	return c.Id, nil
}

// goneContainer is what the runtime's refusal of a session in a
// container that stopped (or went) since it was found becomes: the
// kubelet's "container not found", as it would have said a moment later.
func goneContainer(err error, name string) error {
	if errors.Is(err, errdefs.ErrNotFound) || errors.Is(err, errdefs.ErrFailedPrecondition) {
		return streamNotFound(fmt.Sprintf("container not found (%q)", name))
	}
	return err
}

// findContainer finds a container of any kind by name.
func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	if c, _, _ := specOf(pod, name); c != nil {
		return c
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		}
	}
	return nil
}

// streamNotFound is a 404 with the kubelet's own message.
func streamNotFound(msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
		Reason: metav1.StatusReasonNotFound, Message: msg}}
}
