package kubelet

import (
	"context"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
)

// createSandbox makes the pod's cgroup, directories and sandbox
// (createPodSandbox upstream) and returns the sandbox ID and its config.
// Its attempt follows the newest sandbox the runtime has of the pod, as
// upstream's does: the runtime refuses a second sandbox with the same
// metadata, and one left from before a restart of peapod still holds its
// attempt.
func (k *Kubelet) createSandbox(ctx context.Context, w *podWorker, pod *corev1.Pod, rp *runtimePod) (string, *runtimeapi.PodSandboxConfig, error) {
	if len(rp.sandboxes) > 0 {
		w.sandboxAttempt = max(w.sandboxAttempt, rp.sandboxes[0].GetMetadata().GetAttempt()+1)
	}
	cfg, err := k.sandboxConfig(w, pod, w.sandboxAttempt)
	if err != nil {
		return "", nil, err
	}
	for _, d := range []string{k.podDir(pod.UID), cfg.LogDirectory} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, err
		}
	}
	cg, err := k.cgroups.createPod(pod)
	if err != nil {
		return "", nil, err
	}
	k.updateBurstable("")
	cfg.Linux.CgroupParent = cg
	k.cfg.Failpoints.Hit("kubelet-pod-cgroup")
	handler, err := k.runtimeHandler(ctx, pod)
	var resp *runtimeapi.RunPodSandboxResponse
	if err == nil {
		resp, err = k.cfg.Runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: handler})
	}
	if err != nil {
		k.cfg.Recorder.Eventf(pod, "", events.Warning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return "", nil, fmt.Errorf("creating sandbox: %w", err)
	}
	w.sandboxAttempt++
	return resp.PodSandboxId, cfg, nil
}

// runtimeHandler is the runtime handler of the pod's RuntimeClass ("" for
// the runtime's default), as the kubelet's RuntimeClass manager looks it
// up.
func (k *Kubelet) runtimeHandler(ctx context.Context, pod *corev1.Pod) (string, error) {
	name := pod.Spec.RuntimeClassName
	if name == nil || *name == "" {
		return "", nil
	}
	if k.cfg.RuntimeClasses == nil {
		return "", fmt.Errorf("RuntimeClass %q not found", *name)
	}
	obj, err := k.cfg.RuntimeClasses.Get(ctx, "", *name)
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("RuntimeClass %q not found", *name)
	}
	if err != nil {
		return "", err
	}
	return obj.(*nodev1.RuntimeClass).Handler, nil
}

// sandboxConfig builds the CRI sandbox config of pod
// (generatePodSandboxConfig upstream).
func (k *Kubelet) sandboxConfig(w *podWorker, pod *corev1.Pod, attempt uint32) (*runtimeapi.PodSandboxConfig, error) {
	hostname, err := podHostname(pod)
	if err != nil {
		return nil, err
	}
	dns, err := k.podDNS(w, pod)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range pod.Labels {
		labels[k] = v
	}
	labels[labelPodName], labels[labelPodNamespace], labels[labelPodUID] = pod.Name, pod.Namespace, string(pod.UID)
	annotations := map[string]string{}
	for k, v := range pod.Annotations {
		annotations[k] = v
	}
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID), Attempt: attempt},
		Hostname:     hostname,
		LogDirectory: k.podLogDir(pod.Namespace, pod.Name, pod.UID),
		DnsConfig:    dns,
		Labels:       labels,
		Annotations:  annotations,
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: namespaceOptions(pod)},
		},
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		cfg.Linux.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			cfg.Linux.Sysctls[s.Name] = s.Value
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			cfg.PortMappings = append(cfg.PortMappings, &runtimeapi.PortMapping{
				Protocol: runtimeapi.Protocol(runtimeapi.Protocol_value[string(p.Protocol)]), ContainerPort: p.ContainerPort,
				HostPort: p.HostPort, HostIp: p.HostIP,
			})
		}
	}
	return cfg, nil
}

// namespaceOptions maps hostNetwork/hostPID/hostIPC/shareProcessNamespace.
func namespaceOptions(pod *corev1.Pod) *runtimeapi.NamespaceOption {
	o := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	if pod.Spec.HostNetwork {
		o.Network = runtimeapi.NamespaceMode_NODE
	}
	if pod.Spec.HostIPC {
		o.Ipc = runtimeapi.NamespaceMode_NODE
	}
	switch {
	case pod.Spec.HostPID:
		o.Pid = runtimeapi.NamespaceMode_NODE
	case pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace:
		o.Pid = runtimeapi.NamespaceMode_POD
	}
	return o
}

// podHostname is GeneratePodHostNameAndDomain: spec.hostname or the pod
// name, cut to 63 characters without a trailing '-' or '.'; with
// setHostnameAsFQDN the kernel hostname is the FQDN.
func podHostname(pod *corev1.Pod) (string, error) {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	if pod.Spec.SetHostnameAsFQDN != nil && *pod.Spec.SetHostnameAsFQDN && pod.Spec.Subdomain != "" {
		fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", hostname, pod.Spec.Subdomain, pod.Namespace, clusterDomain)
		if len(fqdn) > 64 {
			return "", fmt.Errorf("failed to construct FQDN from pod hostname and cluster domain, FQDN %s is too long (64 characters is the max, %d characters requested)", fqdn, len(fqdn))
		}
		return fqdn, nil
	}
	return hostname, nil
}

// clusterDomain is the kubelet's default --cluster-domain.
const clusterDomain = "cluster.local"
