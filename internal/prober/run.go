package prober

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/expansion"
)

// maxRetries is how often a probe is tried within one period while its
// handler errs (maxProbeRetries upstream); a plain failure is not retried.
const maxRetries = 3

// target is the container a probe runs against.
type target struct {
	pod         *corev1.Pod
	container   *corev1.Container
	containerID string // runtime ID, without the "peapod://" prefix
	podIP       string
	// fieldPath names the container in events.
	fieldPath string
}

// probe runs one probe of kind against t and turns what the handler
// found into a result and events (prober.probe upstream): every failing
// attempt is an Unhealthy event, a warning a ProbeWarning event and a
// success; an error is reported and its result must be thrown away.
func (m *Manager) probe(ctx context.Context, kind Kind, spec *corev1.Probe, t target) (Result, error) {
	var (
		out    outcome
		output string
		err    error
	)
	for range maxRetries {
		if out, output, err = m.runOnce(ctx, spec, t); err == nil {
			break
		}
	}
	switch {
	case err != nil:
		m.cfg.Recorder.Eventf(t.pod, t.fieldPath, events.Warning, reasonUnhealthy, "%s probe errored and resulted in %s state: %s", kind, out, err)
		return Failure, err
	case out == outcomeWarning:
		m.cfg.Recorder.Eventf(t.pod, t.fieldPath, events.Warning, reasonProbeWarning, "%s probe warning: %s", kind, output)
		return Success, nil
	case out == outcomeSuccess:
		return Success, nil
	case out == outcomeFailure:
		m.cfg.Recorder.Eventf(t.pod, t.fieldPath, events.Warning, reasonUnhealthy, "%s probe failed: %s", kind, output)
	}
	return Failure, nil
}

// Event reasons of pkg/kubelet/events.
const (
	reasonUnhealthy    = "Unhealthy"
	reasonProbeWarning = "ProbeWarning"
)

// runOnce runs the probe's handler once with its timeout.
func (m *Manager) runOnce(ctx context.Context, spec *corev1.Probe, t target) (outcome, string, error) {
	timeout := time.Duration(spec.TimeoutSeconds) * time.Second
	h := spec.ProbeHandler
	switch {
	case h.Exec != nil:
		// $(VAR) from the container's literal env only
		// (ExpandContainerCommandOnlyStatic).
		return probeExec(ctx, m.cfg.Runtime, t.containerID, expansion.ExpandAll(h.Exec.Command, staticEnv(t.container)), timeout)
	case h.HTTPGet != nil:
		req, err := NewHTTPRequest(h.HTTPGet, t.container, t.podIP, m.cfg.UserAgent)
		if err != nil {
			return outcomeUnknown, "", err
		}
		return probeHTTP(ctx, req, timeout)
	case h.TCPSocket != nil:
		port, err := ResolvePort(h.TCPSocket.Port, t.container)
		if err != nil {
			return outcomeUnknown, "", err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = t.podIP
		}
		return probeTCP(ctx, host, port, timeout)
	case h.GRPC != nil:
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		return probeGRPC(ctx, t.podIP, int(h.GRPC.Port), service, timeout, m.cfg.UserAgent)
	}
	return outcomeUnknown, "", fmt.Errorf("missing probe handler for %s:%s", t.pod.Namespace+"/"+t.pod.Name, t.container.Name)
}

// staticEnv is the container's env as written: a value taken from
// elsewhere (valueFrom) counts as empty.
func staticEnv(c *corev1.Container) map[string]string {
	vars := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		vars[e.Name] = e.Value
	}
	return vars
}
