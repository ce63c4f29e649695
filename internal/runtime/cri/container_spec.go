package cri

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/runtime/oci"
)

// processArgs merges the CRI command/args with the image's entrypoint/cmd
// the way containerd does: a command replaces the entrypoint (and drops the
// image cmd); args alone replace only the cmd.
func processArgs(command, args, entrypoint, cmd []string) ([]string, error) {
	if len(command) == 0 {
		if len(args) == 0 {
			args = slices.Clone(cmd)
		}
		if !(len(entrypoint) == 1 && entrypoint[0] == "") {
			command = slices.Clone(entrypoint)
		}
	}
	if len(command) == 0 && len(args) == 0 {
		return nil, errdefs.New(errdefs.ErrInvalidArgument, "no command specified")
	}
	return append(slices.Clone(command), args...), nil
}

// mergeEnv starts from the image environment; container variables replace
// ones of the same name. HOSTNAME is set to the pod's hostname.
func mergeEnv(imageEnv []string, envs []*runtimeapi.KeyValue, hostname string) []string {
	out := []string{"HOSTNAME=" + hostname}
	index := map[string]int{"HOSTNAME": 0}
	set := func(k, v string) {
		if i, ok := index[k]; ok {
			out[i] = k + "=" + v
			return
		}
		index[k] = len(out)
		out = append(out, k+"="+v)
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, kv := range envs {
		set(kv.GetKey(), string(kv.GetValue()))
	}
	return out
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func replaceOption(opts []string, old, repl string) []string {
	out := slices.Clone(opts)
	for i, o := range out {
		if o == old {
			out[i] = repl
		}
	}
	return out
}

// capabilities applies the security context's add/drop lists (names with
// or without CAP_, "ALL") to the default set; privileged gets them all.
func capabilities(sc *runtimeapi.LinuxContainerSecurityContext, priv oci.Privileges) *specs.LinuxCapabilities {
	norm := func(c string) string {
		c = strings.ToUpper(c)
		if c != "ALL" && !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		return c
	}
	set := oci.DefaultCapabilities()
	if sc.GetPrivileged() {
		set = oci.AllCapabilities()
	} else {
		for _, c := range sc.GetCapabilities().GetAddCapabilities() {
			c = norm(c)
			if c == "ALL" {
				set = oci.AllCapabilities()
				break
			}
			if !slices.Contains(set, c) {
				set = append(set, c)
			}
		}
		for _, c := range sc.GetCapabilities().GetDropCapabilities() {
			c = norm(c)
			if c == "ALL" {
				set = nil
				break
			}
			set = slices.DeleteFunc(set, func(x string) bool { return x == c })
		}
	}
	// What the host withholds from peapod, no container gets (the
	// daemon says which at start).
	set = priv.ClampCapabilities(set)
	return &specs.LinuxCapabilities{Bounding: set, Effective: slices.Clone(set), Permitted: slices.Clone(set)}
}

// sandboxMounts are the pod-wide files every container shares: hostname,
// resolv.conf and /dev/shm, unless the container mounts those paths itself.
func (s *Service) sandboxMounts(sb *sandbox, cfg *runtimeapi.ContainerConfig) []specs.Mount {
	own := map[string]bool{}
	for _, m := range cfg.GetMounts() {
		own[filepath.Clean(m.GetContainerPath())] = true
	}
	var out []specs.Mount
	add := func(dst, src string, opts ...string) {
		if !own[dst] {
			out = append(out, specs.Mount{Destination: dst, Type: "bind", Source: src, Options: append([]string{"rbind", "rprivate"}, opts...)})
		}
	}
	ro := "rw"
	if cfg.GetLinux().GetSecurityContext().GetReadonlyRootfs() {
		ro = "ro"
	}
	add("/etc/hostname", filepath.Join(s.sandboxDir(sb.ID), hostnameFile), ro)
	add("/etc/resolv.conf", filepath.Join(s.sandboxDir(sb.ID), resolvConfFile), ro)
	add("/dev/shm", filepath.Join(s.sandboxRunDir(sb.ID), shmDir), "rw", "nosuid", "nodev", "noexec")
	return out
}

// propagationPossible checks that the host side of a mount can propagate
// as asked: a bidirectional mount needs a shared host mount, a
// host-to-container one a shared or slave one (as containerd requires).
func propagationPossible(m *runtimeapi.Mount) error {
	want := m.GetPropagation()
	if want == runtimeapi.MountPropagation_PROPAGATION_PRIVATE {
		return nil
	}
	p, err := mount.PropagationOf(m.GetHostPath())
	if err != nil {
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %s: %v", m.GetHostPath(), err)
	}
	switch {
	case want == runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL && !p.Shared:
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "path %q is mounted on %q but it is not a shared mount", m.GetHostPath(), p.MountPoint)
	case want == runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER && !p.Shared && !p.Slave:
		return errdefs.Errorf(errdefs.ErrInvalidArgument, "path %q is mounted on %q but it is not a shared or slave mount", m.GetHostPath(), p.MountPoint)
	}
	return nil
}

// recursiveReadOnlySource prepares a recursively read-only mount: a
// private, read-only copy of the host path's tree of mounts under the
// container's directory (see mount.RecursiveReadOnly), which runc then
// binds as usual. It is removed with the container's root.
func (s *Service) recursiveReadOnlySource(id string, i int, m *runtimeapi.Mount) (string, error) {
	switch {
	case !s.rro:
		return "", errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: recursive read-only mounts need a kernel with mount_setattr (Linux 5.12)", m.GetContainerPath())
	case !m.GetReadonly():
		return "", errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: a recursive read-only mount must be read-only", m.GetContainerPath())
	case m.GetPropagation() != runtimeapi.MountPropagation_PROPAGATION_PRIVATE:
		return "", errdefs.Errorf(errdefs.ErrInvalidArgument, "mount %q: a recursive read-only mount must have private propagation, not %s", m.GetContainerPath(), m.GetPropagation())
	}
	target := filepath.Join(s.containerDir(id), rroDir, strconv.Itoa(i))
	if err := mount.RecursiveReadOnly(m.GetHostPath(), target); err != nil {
		return "", fmt.Errorf("mount %q: %w", m.GetContainerPath(), err)
	}
	return target, nil
}

// rroDir holds a container's recursively read-only mount sources.
const rroDir = "rro"

// bindMount turns a CRI mount into an OCI bind mount.
func bindMount(m *runtimeapi.Mount) specs.Mount {
	opts := []string{"rbind"}
	switch m.GetPropagation() {
	case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
		opts = append(opts, "rshared")
	case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
		opts = append(opts, "rslave")
	default:
		opts = append(opts, "rprivate")
	}
	if m.GetReadonly() {
		opts = append(opts, "ro")
	} else {
		opts = append(opts, "rw")
	}
	return specs.Mount{Destination: m.GetContainerPath(), Type: "bind", Source: m.GetHostPath(), Options: opts}
}

// containerNamespaces joins the sandbox's network, IPC and UTS namespaces
// (through the pinned netns and the pause process) and, for a shared PID
// namespace, pause's, or for the TARGET mode (an ephemeral container
// debugging another) the target container's; the mount namespace is always
// the container's own.
func (s *Service) containerNamespaces(sb *sandbox, cfg *runtimeapi.ContainerConfig, pausePID int) ([]specs.LinuxNamespace, error) {
	proc := func(ns string) string { return fmt.Sprintf("/proc/%d/ns/%s", pausePID, ns) }
	opts := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	nss := []specs.LinuxNamespace{oci.Namespace(specs.MountNamespace, "")}
	switch opts.GetPid() {
	case runtimeapi.NamespaceMode_POD:
		nss = append(nss, oci.Namespace(specs.PIDNamespace, proc("pid")))
	case runtimeapi.NamespaceMode_NODE:
	case runtimeapi.NamespaceMode_TARGET:
		target, ok := s.getContainer(opts.GetTargetId())
		if !ok {
			return nil, fmt.Errorf("%w: target container %q", errdefs.ErrInvalidArgument, opts.GetTargetId())
		}
		s.mu.Lock()
		pid, state, targetSandbox := target.PID, target.State, target.SandboxID
		s.mu.Unlock()
		if targetSandbox != sb.ID || state != runtimeapi.ContainerState_CONTAINER_RUNNING || pid <= 0 {
			return nil, fmt.Errorf("%w: target container %q is not running in sandbox %s", errdefs.ErrInvalidArgument, opts.GetTargetId(), sb.ID)
		}
		nss = append(nss, oci.Namespace(specs.PIDNamespace, fmt.Sprintf("/proc/%d/ns/pid", pid)))
	default:
		nss = append(nss, oci.Namespace(specs.PIDNamespace, ""))
	}
	if opts.GetIpc() != runtimeapi.NamespaceMode_NODE {
		nss = append(nss, oci.Namespace(specs.IPCNamespace, proc("ipc")))
	}
	if sb.NetNS != "" {
		nss = append(nss, oci.Namespace(specs.NetworkNamespace, sb.NetNS), oci.Namespace(specs.UTSNamespace, proc("uts")))
	}
	return nss, nil
}

// applyResources copies the CRI resources into the spec. hugetlb says
// whether the host has the hugetlb controller: without it, the zero
// limits the kubelet sends for every page size the kernel knows are left
// out (as CRI-O and containerd do; runc would fail the container), and a
// non-zero one is refused rather than dropped.
func applyResources(spec *specs.Spec, r *runtimeapi.LinuxContainerResources, hugetlb bool) error {
	if r == nil {
		return nil
	}
	lr := spec.Linux.Resources
	cpu := &specs.LinuxCPU{Cpus: r.GetCpusetCpus(), Mems: r.GetCpusetMems()}
	if v := r.GetCpuShares(); v > 0 {
		u := uint64(v)
		cpu.Shares = &u
	}
	if v := r.GetCpuPeriod(); v > 0 {
		u := uint64(v)
		cpu.Period = &u
	}
	if v := r.GetCpuQuota(); v != 0 {
		cpu.Quota = &v
	}
	lr.CPU = cpu
	if v := r.GetMemoryLimitInBytes(); v > 0 {
		lr.Memory = &specs.LinuxMemory{Limit: &v}
		if sw := r.GetMemorySwapLimitInBytes(); sw > 0 {
			lr.Memory.Swap = &sw
		}
	}
	for _, h := range r.GetHugepageLimits() {
		if !hugetlb {
			if h.GetLimit() != 0 {
				return fmt.Errorf("%w: a %s hugepage limit of %d bytes needs the hugetlb cgroup controller, which this host does not have",
					errdefs.ErrFailedPrecondition, h.GetPageSize(), h.GetLimit())
			}
			continue
		}
		lr.HugepageLimits = append(lr.HugepageLimits, specs.LinuxHugepageLimit{Pagesize: h.GetPageSize(), Limit: h.GetLimit()})
	}
	if len(r.GetUnified()) > 0 {
		lr.Unified = r.GetUnified()
	}
	return nil
}
