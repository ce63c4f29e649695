package kubelet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/expansion"
)

// Waiting reasons of pkg/kubelet/kuberuntime and pkg/kubelet/images.
const (
	reasonContainerCreating    = "ContainerCreating"
	reasonPodInitializing      = "PodInitializing"
	reasonCrashLoopBackOff     = "CrashLoopBackOff"
	reasonCreateConfigError    = "CreateContainerConfigError"
	reasonCreateContainerError = "CreateContainerError"
	reasonRunContainerError    = "RunContainerError"
)

// startContainer pulls the image, creates and starts one container, and
// runs its postStart hook (startContainer in kuberuntime_container.go),
// recording the usual events. A failure is remembered as the container's
// waiting reason.
func (k *Kubelet) startContainer(ctx context.Context, w *podWorker, pod *corev1.Pod, c *corev1.Container, init bool, t startTarget, restarts int32) error {
	fieldPath := fieldPathOf(pod, c.Name, init)
	imageRef, reason, err := k.ensureImage(ctx, w, pod, c, fieldPath)
	if err != nil {
		w.setReason(c.Name, reason)
		return err
	}
	images, reason, err := k.ensureImageVolumes(ctx, w, pod, c)
	if err != nil {
		w.setReason(c.Name, reason)
		return err
	}
	cfg, err := k.containerConfig(ctx, pod, c, imageRef, images, t.podIPs, restarts)
	if err != nil {
		w.setReason(c.Name, waitingReason{reasonCreateConfigError, err.Error()})
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Error: %v", err)
		return err
	}
	// A debugging container joins its target's PID namespace, unless the
	// pod shares one namespace (or the node's) anyway.
	if ns := cfg.Linux.SecurityContext.NamespaceOptions; t.pidTarget != "" && ns.Pid == runtimeapi.NamespaceMode_CONTAINER {
		ns.Pid, ns.TargetId = runtimeapi.NamespaceMode_TARGET, t.pidTarget
	}
	created, err := k.cfg.Runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: t.sandboxID, Config: cfg, SandboxConfig: t.sandboxConfig})
	if err != nil {
		w.setReason(c.Name, waitingReason{reasonCreateContainerError, err.Error()})
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Error: %v", err)
		return fmt.Errorf("creating container %s: %w", c.Name, err)
	}
	k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "Created", "Container created")
	if _, err := k.cfg.Runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: created.ContainerId}); err != nil {
		w.setReason(c.Name, waitingReason{reasonRunContainerError, err.Error()})
		k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, "Failed", "Error: %v", err)
		return fmt.Errorf("starting container %s: %w", c.Name, err)
	}
	w.clearReason(c.Name)
	k.cfg.Recorder.Eventf(pod, fieldPath, events.Normal, "Started", "Container started")
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		// The hook runs before anything else of the pod is done, and a
		// container whose hook fails is killed (and restarted as its
		// policy says).
		msg, err := k.runHook(w.waitContext(ctx), pod, c, created.ContainerId, c.Lifecycle.PostStart, hookIP(pod, t.podIPs, k.hostIP()))
		if err != nil && w.interrupted() {
			// The pod is being deleted: its kill stops the container.
			return errInterrupted
		}
		if err != nil {
			k.cfg.Recorder.Eventf(pod, fieldPath, events.Warning, reasonFailedPostStartHook, "PostStartHook failed")
			if kerr := k.killContainer(ctx, pod, killTarget{id: created.ContainerId, spec: c, fieldPath: fieldPath, message: reasonFailedPostStartHook}, nil, nil); kerr != nil {
				k.log.Warn("killing a container whose postStart hook failed", "pod", podRef(pod, pod.UID), "container", c.Name, "err", kerr)
			}
			w.setReason(c.Name, waitingReason{reasonPostStartHookError, msg})
			return fmt.Errorf("%s: %s", reasonPostStartHookError, msg)
		}
	}
	return nil
}

// reasonPostStartHookError is the waiting reason of a container whose
// postStart hook failed.
const reasonPostStartHookError = "PostStartHookError"

// hookIP is the address httpGet hooks go to by default: the pod's IP, or
// the node's for a host-network pod.
func hookIP(pod *corev1.Pod, podIPs []string, hostIP string) string {
	if pod.Spec.HostNetwork || len(podIPs) == 0 {
		return hostIP
	}
	return podIPs[0]
}

// containerConfig builds the CRI container config (generateContainerConfig
// upstream).
func (k *Kubelet) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, imageRef string, images map[string]string, podIPs []string, restarts int32) (*runtimeapi.ContainerConfig, error) {
	if err := k.verifyRunAsNonRoot(ctx, pod, c, imageRef); err != nil {
		return nil, err
	}
	env, err := k.containerEnv(ctx, pod, c, podIPs)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Key] = string(e.Value)
	}
	mounts, termPath, err := k.containerMounts(pod, c, images, podIPs, vars)
	if err != nil {
		return nil, err
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	cfg := &runtimeapi.ContainerConfig{
		Metadata:   &runtimeapi.ContainerMetadata{Name: c.Name, Attempt: uint32(restarts)},
		Image:      &runtimeapi.ImageSpec{Image: imageRef, UserSpecifiedImage: c.Image},
		Command:    expansion.ExpandAll(c.Command, vars),
		Args:       expansion.ExpandAll(c.Args, vars),
		WorkingDir: c.WorkingDir,
		Envs:       env,
		Mounts:     mounts,
		LogPath:    filepath.Join(c.Name, strconv.Itoa(int(restarts))+".log"),
		Stdin:      c.Stdin, StdinOnce: c.StdinOnce, Tty: c.TTY,
		Labels: map[string]string{
			labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID), labelContainerName: c.Name,
		},
		Annotations: map[string]string{
			annotationHash:       containerHash(c),
			annotationRestarts:   strconv.Itoa(int(restarts)),
			annotationTermPath:   c.TerminationMessagePath,
			annotationTermPolicy: string(c.TerminationMessagePolicy),
			annotationGrace:      strconv.FormatInt(grace, 10),
		},
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       containerResources(pod, c, k.memoryCapacity()),
			SecurityContext: securityContext(pod, c),
		},
	}
	cfg.Linux.SecurityContext.Seccomp = k.seccompProfile(pod, c)
	if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil {
		cfg.StopSignal = criSignal(*c.Lifecycle.StopSignal)
	}
	if termPath != "" {
		cfg.Annotations[annotationTermFile] = termPath
	}
	return cfg, nil
}

// criSignal is the CRI enum of a signal name: SIGNAL_ and the name, with
// the + and - of real-time signals spelled PLUS and MINUS.
func criSignal(sig corev1.Signal) runtimeapi.Signal {
	name := strings.NewReplacer("+", "PLUS", "-", "MINUS").Replace(string(sig))
	return runtimeapi.Signal(runtimeapi.Signal_value["SIGNAL_"+name])
}

// annotationTermFile records the host file behind the termination log.
const annotationTermFile = "io.peapod.container.terminationMessageFile"

// containerMounts are the container's volume mounts (set up by
// setUpVolumes) and the kubelet-managed files: /etc/hosts (when the pod
// has an IP and the container does not mount it) and the termination log
// (makeMounts upstream).
func (k *Kubelet) containerMounts(pod *corev1.Pod, c *corev1.Container, images map[string]string, podIPs []string, vars map[string]string) ([]*runtimeapi.Mount, string, error) {
	mounts, err := k.volumeMounts(pod, c, images, vars)
	if err != nil {
		return nil, "", err
	}
	ownsHosts := false
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/etc/hosts" {
			ownsHosts = true
		}
	}
	if !ownsHosts && (len(podIPs) > 0 || pod.Spec.HostNetwork) {
		hostname, err := podHostname(pod)
		if err != nil {
			return nil, "", err
		}
		if err := k.writeEtcHosts(pod, podIPs, hostname); err != nil {
			return nil, "", fmt.Errorf("writing /etc/hosts: %w", err)
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: k.etcHostsFile(string(pod.UID))})
	}
	var termFile string
	if c.TerminationMessagePath != "" {
		dir := filepath.Join(k.podDir(pod.UID), "containers", c.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, "", err
		}
		id := make([]byte, 4)
		_, _ = rand.Read(id)
		termFile = filepath.Join(dir, hex.EncodeToString(id))
		if err := os.WriteFile(termFile, nil, 0o666); err != nil {
			return nil, "", err
		}
		_ = os.Chmod(termFile, 0o666)
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: termFile})
	}
	return mounts, termFile, nil
}

// securityContext maps the pod and container security contexts to CRI.
func securityContext(pod *corev1.Pod, c *corev1.Container) *runtimeapi.LinuxContainerSecurityContext {
	out := &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaceOptions(pod)}
	if psc := pod.Spec.SecurityContext; psc != nil {
		if psc.RunAsUser != nil {
			out.RunAsUser = &runtimeapi.Int64Value{Value: *psc.RunAsUser}
		}
		if psc.RunAsGroup != nil {
			out.RunAsGroup = &runtimeapi.Int64Value{Value: *psc.RunAsGroup}
		}
		out.SupplementalGroups = psc.SupplementalGroups
		if psc.FSGroup != nil {
			out.SupplementalGroups = append(out.SupplementalGroups, *psc.FSGroup)
		}
		if p := psc.SupplementalGroupsPolicy; p != nil && *p == corev1.SupplementalGroupsPolicyStrict {
			// Only the groups named here: not those of the image's
			// /etc/group for the user.
			out.SupplementalGroupsPolicy = runtimeapi.SupplementalGroupsPolicy_Strict
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		return out
	}
	if sc.RunAsUser != nil {
		out.RunAsUser = &runtimeapi.Int64Value{Value: *sc.RunAsUser}
	}
	if sc.RunAsGroup != nil {
		out.RunAsGroup = &runtimeapi.Int64Value{Value: *sc.RunAsGroup}
	}
	if sc.Privileged != nil {
		out.Privileged = *sc.Privileged
	}
	if sc.ReadOnlyRootFilesystem != nil {
		out.ReadonlyRootfs = *sc.ReadOnlyRootFilesystem
	}
	if sc.AllowPrivilegeEscalation != nil {
		out.NoNewPrivs = !*sc.AllowPrivilegeEscalation
	}
	if caps := sc.Capabilities; caps != nil {
		out.Capabilities = &runtimeapi.Capability{}
		for _, a := range caps.Add {
			out.Capabilities.AddCapabilities = append(out.Capabilities.AddCapabilities, string(a))
		}
		for _, d := range caps.Drop {
			out.Capabilities.DropCapabilities = append(out.Capabilities.DropCapabilities, string(d))
		}
	}
	return out
}

// containerHash fingerprints what of a container spec may change: its
// name and image (HashContainer since Kubernetes 1.34), for the back-off
// key and to notice an updated image.
func containerHash(c *corev1.Container) string {
	data, _ := json.Marshal(struct {
		Name  string `json:"name"`
		Image string `json:"image"`
	}{c.Name, c.Image})
	h := fnv.New32a()
	_, _ = h.Write(data)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// legacyContainerHash is the hash of the whole spec that peapod stored on
// containers before it hashed like containerHash: a container made then
// is not taken for a changed one.
func legacyContainerHash(c *corev1.Container) string {
	data, _ := json.Marshal(c)
	h := fnv.New32a()
	_, _ = h.Write(data)
	return strconv.FormatUint(uint64(h.Sum32()), 16)
}

// verifyRunAsNonRoot refuses to start a container that must not run as
// root but would (verifyRunAsNonRoot upstream): by its runAsUser, or by
// its image's user, which counts as root when the image names none.
func (k *Kubelet) verifyRunAsNonRoot(ctx context.Context, pod *corev1.Pod, c *corev1.Container, imageRef string) error {
	var imageUID, runAs *int64
	var want *bool
	if psc := pod.Spec.SecurityContext; psc != nil {
		want, runAs = psc.RunAsNonRoot, psc.RunAsUser
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsNonRoot != nil {
			want = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			runAs = sc.RunAsUser
		}
	}
	if want == nil || !*want {
		return nil
	}
	podName := fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
	if runAs != nil {
		if *runAs == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podName, c.Name)
		}
		return nil
	}
	username := ""
	if st, err := k.cfg.Runtime.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: imageRef}}); err == nil && st.GetImage() != nil {
		if uid := st.GetImage().GetUid(); uid != nil {
			imageUID = &uid.Value
		} else {
			username = st.GetImage().GetUsername()
		}
	}
	switch {
	case imageUID == nil && username != "":
		return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", username, podName, c.Name)
	case imageUID == nil || *imageUID == 0:
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podName, c.Name)
	}
	return nil
}

// seccompProfile is the container's seccomp profile (the container's
// seccompProfile, else the pod's); with neither, RuntimeDefault unless
// --seccomp-default=false (peapod turns the kubelet's --seccomp-default
// on by default: a container runs confined unless it asks for
// Unconfined). Localhost profiles are files below the kubelet's seccomp
// directory (<root-dir>/seccomp).
func (k *Kubelet) seccompProfile(pod *corev1.Pod, c *corev1.Container) *runtimeapi.SecurityProfile {
	var p *corev1.SeccompProfile
	if psc := pod.Spec.SecurityContext; psc != nil {
		p = psc.SeccompProfile
	}
	if sc := c.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		p = sc.SeccompProfile
	}
	switch {
	case p == nil && k.cfg.SeccompDefault:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
	case p == nil, p.Type == corev1.SeccompProfileTypeUnconfined:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined}
	case p.Type == corev1.SeccompProfileTypeLocalhost && p.LocalhostProfile != nil:
		return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Localhost,
			LocalhostRef: filepath.Join(k.cfg.RootDir, "seccomp", *p.LocalhostProfile)}
	}
	return &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_RuntimeDefault}
}
