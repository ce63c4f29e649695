package kubelet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/peapod/peapod/internal/prober"
)

// runHook runs a lifecycle handler of container c (postStart or preStop)
// as pkg/kubelet/lifecycle's Run: exec inside the container through the
// runtime, without a timeout of its own; httpGet against the pod IP (or
// the handler's host), where only a failure to get an answer fails it, not
// the status code; sleep. It returns the message upstream shows in the
// container's waiting state when a postStart hook fails. ctx bounds it.
//
// A deliberate difference: an httpGet hook with scheme HTTPS that gets a
// plain-HTTP answer fails ("http: server gave HTTP response to HTTPS
// client"), where the kubelet, behind its LifecycleHTTPFallback, sends the
// request again over HTTP and records a LifecycleHTTPFallback event. A hook
// asking for TLS is never downgraded to plain text here (README, "Pod
// lifecycle").
func (k *Kubelet) runHook(ctx context.Context, pod *corev1.Pod, c *corev1.Container, containerID string, h *corev1.LifecycleHandler, podIP string) (string, error) {
	switch {
	case h.Exec != nil:
		code, stdout, stderr, err := prober.Exec(ctx, k.cfg.Runtime, containerID, h.Exec.Command, 0)
		out := append(stdout, stderr...)
		if err == nil && code != 0 {
			err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), code, stderr)
		}
		if err != nil {
			return fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
				h.Exec.Command, c.Name, formatPod(pod), err, string(out)), err
		}
		return "", nil
	case h.HTTPGet != nil:
		if h.HTTPGet.Host == "" && podIP == "" {
			err := errors.New("failed to find networking container: the pod has no IP")
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, formatPod(pod), err), err
		}
		req, err := prober.NewHTTPRequest(h.HTTPGet, c, podIP, "kube-lifecycle/"+k.minorVersion())
		if err == nil {
			var resp *http.Response
			if resp, err = prober.HookClient().Do(req.WithContext(ctx)); err == nil {
				resp.Body.Close()
			}
		}
		if err != nil {
			return fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, c.Name, formatPod(pod), err), err
		}
		return "", nil
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return "", nil
		case <-ctx.Done():
			err := errors.New("container terminated before sleep hook finished")
			return fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v", h.Sleep.Seconds, c.Name, formatPod(pod), err), err
		}
	}
	// tcpSocket is accepted by the API for compatibility but, as
	// upstream, is no handler.
	err := fmt.Errorf("invalid handler: %v", h)
	return fmt.Sprintf("Cannot run handler: %v", err), err
}

// formatPod is format.Pod: name_namespace(uid).
func formatPod(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// minorVersion is the kubelet version's "<major>.<minor>", for the probe
// and hook user agents.
func (k *Kubelet) minorVersion() string {
	v := strings.TrimPrefix(k.cfg.Version, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return "1.0"
	}
	return parts[0] + "." + parts[1]
}
