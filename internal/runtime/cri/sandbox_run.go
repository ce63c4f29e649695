package cri

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/runtime/pidfd"
)

// Sandbox defaults, as containerd's CRI plugin has them.
const (
	sandboxShmSize      = 64 << 20 // defaultShmSize
	sandboxOOMScoreAdj  = -998     // defaultSandboxOOMAdj
	sandboxCPUShares    = 2        // defaultSandboxCPUshares
	pauseUID            = 65535
	pauseMountPoint     = "/pause"
	hostnameFile        = "hostname"
	resolvConfFile      = "resolv.conf"
	shmDir              = "shm"
	defaultStopTimeout  = 10 * time.Second
	sandboxStopDeadline = 2 * time.Second
)

func newID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RunPodSandbox creates and starts a pod sandbox: a network namespace
// attached by CNI and, in parallel, the pause process that holds the pod's
// IPC and UTS namespaces (and PID namespace when it is shared). A pod the
// sandbox pool can serve claims a sandbox made ahead of time instead (see
// sandbox_pool.go).
func (s *Service) RunPodSandbox(ctx context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	cfg := req.GetConfig()
	md := cfg.GetMetadata()
	if md == nil || md.Name == "" || md.Namespace == "" || md.Uid == "" {
		return nil, errdefs.New(errdefs.ErrInvalidArgument, "sandbox config must carry metadata with name, namespace and uid")
	}
	if _, err := s.handler(req.GetRuntimeHandler()); err != nil {
		return nil, err
	}
	defer s.pool.starting()()
	name := sandboxName(md)
	if sb := s.claimPooled(ctx, cfg, req.GetRuntimeHandler(), name); sb != nil {
		return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
	}
	sb := s.newSandbox(newID(), cfg, req.GetRuntimeHandler())
	if err := s.reserveName("sandbox", name, sb.ID); err != nil {
		return nil, err
	}
	if err := s.makeSandbox(ctx, sb); err != nil {
		s.releaseName(name, sb.ID)
		return nil, err
	}
	s.enterSandbox(sb)
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: sb.ID}, nil
}

// newSandbox is the record of a sandbox about to be made.
func (s *Service) newSandbox(id string, cfg *runtimeapi.PodSandboxConfig, handler string) *sandbox {
	sb := &sandbox{
		ID: id, Config: cfg, CreatedAt: time.Now().UnixNano(), Handler: handler,
		State:  runtimeapi.PodSandboxState_SANDBOX_NOTREADY,
		Cgroup: cfg.GetLinux().GetCgroupParent(),
		PidNS:  cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid(),
		Ports:  cfg.GetPortMappings(),
		exited: make(chan struct{}),
	}
	if sb.Cgroup == "" && s.cfg.CgroupRoot != "" && !s.cfg.SystemdCgroup {
		// A kubelet always names the pod's cgroup; a sandbox without one
		// gets its own under the runtime's root, so that its use can be
		// measured and limited like any other.
		sb.Cgroup, sb.OwnCgroup = path.Join(s.cfg.CgroupRoot, sb.ID), true
	}
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() != runtimeapi.NamespaceMode_NODE {
		sb.NetNS = s.netnsPath(sb.ID)
	}
	return sb
}

// makeSandbox makes sb on the node, ready, and records it. Each step is
// recorded before it is taken (see steps.go); a failure unmakes what was
// begun.
func (s *Service) makeSandbox(ctx context.Context, sb *sandbox) (err error) {
	md := sb.Config.GetMetadata()
	hostNetwork := sb.NetNS == ""
	log := s.log.With("sandbox", sb.ID, "pod", md.GetNamespace()+"/"+md.GetName())
	if err := os.MkdirAll(s.sandboxDir(sb.ID), 0o700); err != nil {
		return err
	}
	// waitNetwork waits for the CNI goroutine, once it runs, and returns
	// the pod's IPs.
	waitNetwork := func() ([]string, error) { return nil, nil }
	defer func() {
		if err == nil {
			return
		}
		_, _ = waitNetwork() // the CNI goroutine must not outlive a rollback
		if sb.pause != nil {
			_ = sb.pause.Close()
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if uerr := s.unmakeSandbox(rctx, sb, sb.Step); uerr != nil {
			log.Warn("rolling back sandbox", "err", uerr)
		}
	}()

	if !hostNetwork {
		if err := s.beginSandbox(sb, stepNetNS); err != nil {
			return err
		}
		if err := network.NewNetNS(sb.NetNS); err != nil {
			return wrapf(err, "creating network namespace")
		}
		if err := s.beginSandbox(sb, stepNetwork); err != nil {
			return err
		}
		// CNI wires the namespace while the pause process starts.
		type result struct {
			ips []string
			err error
		}
		netDone := make(chan result, 1)
		waitNetwork = sync.OnceValues(func() ([]string, error) { r := <-netDone; return r.ips, r.err })
		attachment := s.attachment(sb)
		go func() {
			start := time.Now()
			// Of what a sandbox makes, only its IP reservation outlives
			// a power cut: the record saying so is made durable first,
			// here, off the pause process's way.
			if err := sb.rec.sync(s.sandboxDir(sb.ID)); err != nil {
				netDone <- result{err: fmt.Errorf("saving sandbox record: %w", err)}
				return
			}
			ips, err := s.setupNetwork(ctx, attachment)
			log.Debug("network set up", "duration", time.Since(start))
			netDone <- result{ips, err}
		}()
	}
	if err := s.beginSandbox(sb, stepFiles); err != nil {
		return err
	}
	runDir := s.sandboxRunDir(sb.ID)
	if err := s.writeSandboxFiles(sb, runDir); err != nil {
		return err
	}
	if err := s.beginSandbox(sb, stepPause); err != nil {
		return err
	}
	pauseStart := time.Now()
	pid, err := s.startPause(ctx, sb, runDir)
	log.Debug("pause started", "duration", time.Since(pauseStart))
	if err != nil {
		return wrapf(err, "starting sandbox pause process")
	}
	ips, err := waitNetwork()
	if err != nil {
		return err
	}
	s.cfg.Failpoints.Hit("sandbox-ready")

	s.mu.Lock()
	sb.IPs = ips
	sb.Network = !hostNetwork
	sb.PausePID = pid
	sb.State = runtimeapi.PodSandboxState_SANDBOX_READY
	sb.Step = ""
	sn := snap(&sb.rec, s.sandboxDir(sb.ID), sb)
	s.mu.Unlock()
	return sn.write(false)
}

// enterSandbox makes a ready sandbox known: listed, watched, announced.
func (s *Service) enterSandbox(sb *sandbox) {
	s.mu.Lock()
	s.sandboxes[sb.ID] = sb
	s.mu.Unlock()
	s.cfg.Failpoints.Hit("sandbox-created")
	// The pidfd was open before the sandbox entered the map: an exit
	// since then is seen at once.
	go s.watchPause(sb)
	s.log.Debug("sandbox ready", "sandbox", sb.ID, "pod", sb.Config.GetMetadata().GetNamespace()+"/"+sb.Config.GetMetadata().GetName(),
		"ips", sb.IPs, "pause_pid", sb.PausePID)
	s.publish(sb.ID, runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, sb)
}

func (s *Service) attachment(sb *sandbox) network.Attachment {
	md := sb.Config.GetMetadata()
	a := network.Attachment{SandboxID: sb.ID, NetNS: sb.NetNS, Namespace: md.GetNamespace(), Name: md.GetName(), UID: md.GetUid()}
	for _, p := range sb.Ports {
		a.Ports = append(a.Ports, network.PortMapping{
			HostPort: p.HostPort, ContainerPort: p.ContainerPort, HostIP: p.HostIp,
			Protocol: strings.ToLower(p.Protocol.String()),
		})
	}
	return a
}

func (s *Service) setupNetwork(ctx context.Context, a network.Attachment) ([]string, error) {
	ips, err := s.cfg.Network.Setup(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("setting up pod network: %w", err)
	}
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out, nil
}

// writeSandboxFiles writes /etc/hostname and /etc/resolv.conf for the
// pod's containers and mounts the pod's /dev/shm.
func (s *Service) writeSandboxFiles(sb *sandbox, runDir string) error {
	for _, d := range []string{filepath.Join(runDir, "rootfs"), filepath.Join(runDir, shmDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := s.writeNameFiles(sb.ID, sb.Config); err != nil {
		return err
	}
	opts := fmt.Sprintf("mode=1777,size=%d", sandboxShmSize)
	if err := unix.Mount("shm", filepath.Join(runDir, shmDir), "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting sandbox shm: %w", err)
	}
	return nil
}

// writeNameFiles writes the files the pod's containers get as
// /etc/hostname and /etc/resolv.conf.
func (s *Service) writeNameFiles(id string, cfg *runtimeapi.PodSandboxConfig) error {
	hostname := cfg.GetHostname()
	if cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE {
		hostname, _ = os.Hostname()
	}
	if err := os.WriteFile(filepath.Join(s.sandboxDir(id), hostnameFile), []byte(hostname+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.sandboxDir(id), resolvConfFile), resolvConf(cfg.GetDnsConfig()), 0o644)
}

// resolvConf renders the DNS config in containerd's order: search,
// nameservers, options.
func resolvConf(dns *runtimeapi.DNSConfig) []byte {
	var b strings.Builder
	if len(dns.GetSearches()) > 0 {
		b.WriteString("search " + strings.Join(dns.GetSearches(), " ") + "\n")
	}
	for _, ns := range dns.GetServers() {
		b.WriteString("nameserver " + ns + "\n")
	}
	if len(dns.GetOptions()) > 0 {
		b.WriteString("options " + strings.Join(dns.GetOptions(), " ") + "\n")
	}
	return []byte(b.String())
}

// startPause runs the pause process with `runc run --detach` and opens
// a pidfd on it. No conmon watches it: pause writes nothing worth a log
// and its exit status means nothing, so a monitor process per pod would
// cost memory (and ~10 ms of every sandbox's start) for nothing. The
// daemon learns of its exit through the pidfd (watchPause), and after a
// restart from runc's state (reconcileLive).
func (s *Service) startPause(ctx context.Context, sb *sandbox, runDir string) (int, error) {
	spec := s.pauseSpec(sb, filepath.Join(runDir, "rootfs"))
	if err := writeSpec(runDir, spec); err != nil {
		return 0, err
	}
	rt, err := s.handler(sb.Handler)
	if err != nil {
		return 0, err
	}
	pid, err := rt.RunDetached(ctx, sb.ID, runDir, pauseCgroup(sb).Systemd())
	if err != nil {
		return 0, err
	}
	proc, err := pidfd.Open(pid)
	if err != nil {
		return 0, fmt.Errorf("watching the pause process: %w", err)
	}
	sb.pause = proc
	return pid, nil
}

// watchPause marks the sandbox exited when its pause process exits,
// unless the service ends first or the watch is closed.
func (s *Service) watchPause(sb *sandbox) {
	s.mu.Lock()
	p := sb.pause
	s.mu.Unlock()
	err := p.Wait(s.life)
	// A sandbox is exited only once its pause is: should the pidfd ever
	// turn readable while the process runs, the watch goes on by
	// polling. (The one failure that suggested it, in the cgroup v2 VM,
	// is better explained by a test that took a pause in state 'X',
	// dead and being reaped, for a live one; see pidfd.StatRunning.)
	if err == nil && p.Running() {
		s.log.Warn("pause process reported exited while it runs; watching it by polling", "sandbox", sb.ID)
		for err == nil && p.Running() {
			select {
			case <-s.life.Done():
				err = s.life.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// Signals go through the runtime from now on (signalPause).
	s.mu.Lock()
	sb.pause = nil
	s.mu.Unlock()
	p.Close()
	if err == nil {
		s.sandboxExited(sb)
	}
}

func (s *Service) pauseSpec(sb *sandbox, rootfs string) *specs.Spec {
	spec := oci.NewSpec(rootfs)
	spec.Root.Readonly = true
	spec.Hostname = sb.Config.GetHostname()
	spec.Process.Args = append([]string{pauseMountPoint}, s.cfg.PauseArgs...)
	spec.Process.User = specs.User{UID: pauseUID, GID: pauseUID}
	spec.Process.Capabilities = &specs.LinuxCapabilities{}
	spec.Process.NoNewPrivileges = true
	adj := s.cfg.Privileges.ClampOOMScoreAdj(sandboxOOMScoreAdj)
	if adj != sandboxOOMScoreAdj {
		s.log.Debug("oom_score_adj clamped", "sandbox", sb.ID, "intended", sandboxOOMScoreAdj, "applied", adj)
	}
	spec.Process.OOMScoreAdj = &adj
	// Only /proc and /dev: pause needs nothing else.
	spec.Mounts = append(spec.Mounts[:2:2], specs.Mount{
		Destination: pauseMountPoint, Type: "bind", Source: s.cfg.Pause, Options: []string{"rbind", "ro", "nosuid", "nodev"},
	})
	nsOpts := sb.Config.GetLinux().GetSecurityContext().GetNamespaceOptions()
	spec.Linux.Namespaces = []specs.LinuxNamespace{
		oci.Namespace(specs.MountNamespace, ""),
		oci.Namespace(specs.PIDNamespace, ""),
	}
	if nsOpts.GetIpc() != runtimeapi.NamespaceMode_NODE {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, oci.Namespace(specs.IPCNamespace, ""))
	}
	if sb.NetNS != "" {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces,
			oci.Namespace(specs.NetworkNamespace, sb.NetNS), oci.Namespace(specs.UTSNamespace, ""))
	} else {
		spec.Hostname = ""
	}
	spec.Linux.CgroupsPath = pauseCgroup(sb).OCIPath()
	shares := uint64(sandboxCPUShares)
	spec.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares}
	spec.Linux.Sysctl = sb.Config.GetLinux().GetSysctls()
	spec.Annotations = map[string]string{"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": sb.ID}
	return spec
}

// unmountAll unmounts path (repeatedly, for stacked mounts); nothing
// mounted is fine.
func unmountAll(path string) error {
	for {
		err := unix.Unmount(path, unix.MNT_DETACH)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("unmounting %s: %w", path, err)
	}
}
