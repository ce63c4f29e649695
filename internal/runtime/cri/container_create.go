package cri

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/reference"
	"github.com/peapod/peapod/internal/runtime/conmon"
	"github.com/peapod/peapod/internal/runtime/image"
	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// CreateContainer creates a container in a ready sandbox: an overlayfs root
// from the image, an OCI spec joining the sandbox's namespaces, and conmon
// running `runc create`. The container's process waits for StartContainer.
func (s *Service) CreateContainer(ctx context.Context, req *runtimeapi.CreateContainerRequest) (_ *runtimeapi.CreateContainerResponse, err error) {
	defer s.pool.starting()()
	cfg := req.GetConfig()
	if cfg.GetMetadata().GetName() == "" {
		return nil, errdefs.New(errdefs.ErrInvalidArgument, "container config must carry metadata with a name")
	}
	sb, ok := s.getSandbox(req.GetPodSandboxId())
	if !ok {
		return nil, errNotFound("sandbox", req.GetPodSandboxId())
	}
	id, name := newID(), containerName(cfg.GetMetadata(), sb.Config.GetMetadata())
	s.mu.Lock()
	ready, pausePID := sb.State == runtimeapi.PodSandboxState_SANDBOX_READY, sb.PausePID
	if ready {
		err = s.names.reserve("container", name, id)
	}
	s.mu.Unlock()
	if !ready {
		return nil, errdefs.New(errdefs.ErrFailedPrecondition, fmt.Sprintf("sandbox %s is not ready", sb.ID))
	}
	if err != nil {
		return nil, err
	}
	// Released unless the container is made (then its removal does).
	made := false
	defer func() {
		if !made {
			s.releaseName(name, id)
		}
	}()
	img, err := s.cfg.Images.Get(cfg.GetImage().GetImage())
	if err != nil {
		return nil, wrapf(err, "image %q", cfg.GetImage().GetImage())
	}
	layers, err := s.cfg.Images.LayerDirs(img)
	if err != nil {
		return nil, wrapf(err, "image %q layers", cfg.GetImage().GetImage())
	}
	c := &container{
		ID: id, name: name, SandboxID: sb.ID, Config: cfg, ImageRef: img.ID, Layers: img.Layers, ImageName: imageName(img, firstNonEmpty(cfg.GetImage().GetUserSpecifiedImage(), cfg.GetImage().GetImage())),
		State: runtimeapi.ContainerState_CONTAINER_CREATED, CreatedAt: time.Now().UnixNano(),
		Mounts: cfg.GetMounts(), StopSignal: img.Config.StopSignal, Handler: sb.Handler, exited: make(chan struct{}),
	}
	if name := stopSignalName(cfg.GetStopSignal()); name != "" {
		c.StopSignal = name
	}
	if cfg.GetLogPath() != "" {
		c.LogPath = filepath.Join(sb.Config.GetLogDirectory(), cfg.GetLogPath())
	}
	if sb.Cgroup != "" {
		c.Cgroup = cgroup.Leaf{Parent: sb.Cgroup, ID: c.ID}.OCIPath()
	}
	log := s.log.With("container", c.ID, "sandbox", sb.ID)
	dir, runDir := s.containerDir(c.ID), s.containerRunDir(c.ID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if uerr := s.unmakeContainer(rctx, c, c.Step); uerr != nil {
			log.Warn("rolling back container", "err", uerr)
		}
	}()
	if err := s.beginContainer(c, stepRootfs); err != nil {
		return nil, err
	}
	root, err := rootfs.Mount(dir, layers)
	if err != nil {
		return nil, err
	}
	imageVolumes := map[int]*imageVolume{}
	imageIDs := map[int]string{}
	for i, m := range cfg.GetMounts() {
		if m.GetImage().GetImage() == "" {
			continue
		}
		v, err := s.mountImageVolume(c.ID, i, m)
		if err != nil {
			return nil, err
		}
		imageVolumes[i], imageIDs[i] = v, v.imageID
		c.VolumeLayers = append(c.VolumeLayers, v.layers...)
	}
	c.Mounts = reportedMounts(cfg.GetMounts(), imageIDs)
	spec, err := s.containerSpec(containerSpecInput{id: c.ID, cgroup: c.Cgroup, sb: sb, cfg: cfg, img: img, root: root, pausePID: pausePID, hostname: s.sandboxHostname(sb), imageVolumes: imageVolumes})
	if err != nil {
		return nil, err
	}
	c.User = &spec.Process.User
	quota, period := deferCPUQuota(spec, cgroup.ParseLeaf(c.Cgroup))
	if err := s.beginContainer(c, stepRuntime); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, err
	}
	if err := writeSpec(runDir, spec); err != nil {
		return nil, err
	}
	logPath := c.LogPath
	if logPath == "" {
		logPath = filepath.Join(runDir, "output.log")
	}
	conmonStart := time.Now()
	rt, err := s.handler(c.Handler)
	if err != nil {
		return nil, err
	}
	pid, err := s.cfg.Conmon.Create(ctx, conmon.Container{ID: c.ID, Runtime: rt.Binary, RuntimeRoot: rt.Root, Bundle: runDir, LogPath: logPath, SystemdCgroup: cgroup.ParseLeaf(c.Cgroup).Systemd(),
		Stdin: cfg.GetStdin(), StdinOnce: cfg.GetStdinOnce(), Tty: cfg.GetTty()})
	log.Debug("container created by conmon", "duration", time.Since(conmonStart))
	if err != nil {
		return nil, err
	}
	if quota != 0 {
		if err := cgroup.ParseLeaf(c.Cgroup).SetCPUQuota(quota, period); err != nil {
			return nil, err
		}
	}
	// The container's mount namespace holds its own copies of the
	// read-only trees now; the node's would keep their mount points busy
	// (a host path's submount could not be removed while it is here).
	for _, d := range []string{rroDir, imageVolumeDir} {
		if err := mount.UnmountUnder(filepath.Join(s.containerDir(c.ID), d)); err != nil {
			log.Warn("releasing the node's copies of a container's read-only mounts", "dir", d, "err", err)
		}
	}
	s.cfg.Failpoints.Hit("container-ready")
	s.mu.Lock()
	c.PID = pid
	c.Step = ""
	sn := snap(&c.rec, dir, c)
	s.mu.Unlock()
	if err := sn.write(false); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.containers[c.ID] = c
	s.mu.Unlock()
	made = true
	s.cfg.Failpoints.Hit("container-created")
	s.publish(c.ID, runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT, sb)
	return &runtimeapi.CreateContainerResponse{ContainerId: c.ID}, nil
}

// deferCPUQuota takes the CFS quota out of the spec of a container with
// a cgroupfs leaf and returns it (0 when there is none, or it stays), for
// CreateContainer to set once the runtime has made the container and
// before its process starts. The runtime's own setup of the container
// (runc init: namespaces, mounts, the root's pivot) runs in the
// container's cgroup: under a small CPU limit it was throttled like the
// workload (a 100m limit gives it 10 ms of every 100 ms, which made such
// a container's start 3 times slower), while the workload is throttled
// from its first instruction either way. With the systemd driver the
// quota is a property of the scope unit and stays in the spec.
func deferCPUQuota(spec *specs.Spec, leaf cgroup.Leaf) (int64, uint64) {
	if spec.Linux == nil || spec.Linux.Resources == nil {
		return 0, 0
	}
	cpu := spec.Linux.Resources.CPU
	if cpu == nil || cpu.Quota == nil || *cpu.Quota <= 0 || leaf.Parent == "" || leaf.Systemd() {
		return 0, 0
	}
	quota, period := *cpu.Quota, uint64(0)
	if cpu.Period != nil {
		period = *cpu.Period
	}
	cpu.Quota = nil
	return quota, period
}

// imageName is the name to report for the container's image: the
// reference asked for, normalized, when the image carries it.
func imageName(img *image.Image, requested string) string {
	if n, err := reference.Normalize(requested); err == nil {
		for _, t := range img.RepoTags {
			if t == n {
				return n
			}
		}
		if !strings.HasPrefix(requested, "sha256:") {
			return n
		}
	}
	if len(img.RepoTags) > 0 {
		return img.RepoTags[0]
	}
	return img.ID
}

func (s *Service) sandboxHostname(sb *sandbox) string {
	data, err := os.ReadFile(filepath.Join(s.sandboxDir(sb.ID), hostnameFile))
	if err != nil {
		return sb.Config.GetHostname()
	}
	return strings.TrimSpace(string(data))
}

func writeSpec(bundle string, spec *specs.Spec) error {
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
}

type containerSpecInput struct {
	id       string
	cgroup   string
	sb       *sandbox
	cfg      *runtimeapi.ContainerConfig
	img      *image.Image
	root     string
	pausePID int
	hostname string
	// imageVolumes are the mounted image volumes, by mount index.
	imageVolumes map[int]*imageVolume
}

// containerSpec builds the OCI spec of a container.
func (s *Service) containerSpec(in containerSpecInput) (*specs.Spec, error) {
	cfg, sc := in.cfg, in.cfg.GetLinux().GetSecurityContext()
	spec := oci.NewSpec(in.root)
	spec.Root.Readonly = sc.GetReadonlyRootfs()
	args, err := processArgs(cfg.GetCommand(), cfg.GetArgs(), in.img.Config.Entrypoint, in.img.Config.Cmd)
	if err != nil {
		return nil, err
	}
	spec.Process.Args = args
	spec.Process.Env = mergeEnv(in.img.Config.Env, cfg.GetEnvs(), in.hostname)
	spec.Process.Cwd = firstNonEmpty(cfg.GetWorkingDir(), in.img.Config.WorkingDir, "/")
	spec.Process.Terminal = cfg.GetTty()
	user, err := resolveUser(in.root, sc, in.img.Config.User)
	if err != nil {
		return nil, err
	}
	spec.Process.User = user
	spec.Process.NoNewPrivileges = sc.GetNoNewPrivs()
	spec.Process.Capabilities = capabilities(sc, s.cfg.Privileges)
	if sp := sc.GetSeccomp(); !sc.GetPrivileged() && sp != nil {
		switch sp.GetProfileType() {
		case runtimeapi.SecurityProfile_RuntimeDefault:
			spec.Linux.Seccomp = oci.DefaultSeccomp(spec.Process.Capabilities.Effective)
		case runtimeapi.SecurityProfile_Localhost:
			if spec.Linux.Seccomp, err = oci.LoadSeccomp(sp.GetLocalhostRef()); err != nil {
				return nil, fmt.Errorf("failed to generate seccomp spec opts: %w", err)
			}
		}
	}
	if sc.GetPrivileged() {
		// All of the host's devices, all allowed, no masked paths.
		spec.Linux.Devices = oci.HostDevices()
		spec.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
		for i := range spec.Mounts {
			if spec.Mounts[i].Destination == "/sys" || spec.Mounts[i].Destination == "/sys/fs/cgroup" {
				spec.Mounts[i].Options = replaceOption(spec.Mounts[i].Options, "ro", "rw")
			}
		}
	}
	if !sc.GetPrivileged() {
		// The kubelet sends the paths to mask and make read-only (its
		// defaults, or none for procMount: Unmasked, which arrives as
		// empty too and so keeps the runtime's defaults, as in
		// containerd).
		if p := sc.GetMaskedPaths(); len(p) > 0 {
			spec.Linux.MaskedPaths = p
		}
		if p := sc.GetReadonlyPaths(); len(p) > 0 {
			spec.Linux.ReadonlyPaths = p
		}
	}
	res := cfg.GetLinux().GetResources()
	if want := int(res.GetOomScoreAdj()); want != 0 {
		adj := s.cfg.Privileges.ClampOOMScoreAdj(want)
		if adj != want {
			// The intended value stays visible (the daemon said once
			// at start why it is clamped).
			s.log.Debug("oom_score_adj clamped", "container", in.id, "intended", want, "applied", adj)
		}
		spec.Process.OOMScoreAdj = &adj
	}
	spec.Mounts = append(spec.Mounts, s.sandboxMounts(in.sb, cfg)...)
	for i, m := range cfg.GetMounts() {
		if v := in.imageVolumes[i]; v != nil {
			// A private read-only view: nothing to propagate.
			spec.Mounts = append(spec.Mounts, specs.Mount{Destination: m.GetContainerPath(), Type: "bind", Source: v.source, Options: []string{"rbind", "rprivate", "ro"}})
			continue
		}
		if err := propagationPossible(m); err != nil {
			return nil, err
		}
		bind := bindMount(m)
		if m.GetRecursiveReadOnly() {
			if bind.Source, err = s.recursiveReadOnlySource(in.id, i, m); err != nil {
				return nil, err
			}
		}
		spec.Mounts = append(spec.Mounts, bind)
		// The root's propagation decides whether a mount's own can
		// work: the OCI runtime makes the root a slave by default, which
		// would cut a shared mount off from the host.
		switch m.GetPropagation() {
		case runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL:
			spec.Linux.RootfsPropagation = "rshared"
		case runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER:
			if spec.Linux.RootfsPropagation != "rshared" {
				spec.Linux.RootfsPropagation = "rslave"
			}
		}
	}
	if spec.Linux.Namespaces, err = s.containerNamespaces(in.sb, cfg, in.pausePID); err != nil {
		return nil, err
	}
	spec.Linux.CgroupsPath = in.cgroup
	if err := applyResources(spec, res, s.hugetlb); err != nil {
		return nil, err
	}
	spec.Linux.Sysctl = in.sb.Config.GetLinux().GetSysctls()
	spec.Annotations = map[string]string{
		"io.kubernetes.cri.container-type": "container",
		"io.kubernetes.cri.sandbox-id":     in.sb.ID,
		"io.kubernetes.cri.container-name": cfg.GetMetadata().GetName(),
	}
	return spec, nil
}
