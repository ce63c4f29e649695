package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
)

// The sandbox pool takes the making of a sandbox off a pod's way. RunPool
// keeps a few sandboxes made ahead of time: network namespace pinned and
// attached by CNI (so with its IP), /dev/shm mounted, pause running in a
// cgroup of its own under the runtime's root. RunPodSandbox hands a pod
// that such a sandbox can serve the oldest one, made the pod's at claim:
// the hostname set in its UTS namespace, /etc/hostname and
// /etc/resolv.conf written, the pause moved into the pod's cgroup, the
// record saying whose it is now. The pool makes another one at once.
//
// A pooled sandbox is the same for every pod, so only pods that need
// nothing fixed at the pause's creation can claim one (unpoolable): not
// host network or IPC, no user namespace, no sysctls (set as the pause
// starts), no host ports (a CNI attachment's port mappings), the default
// runtime handler, a cgroupfs parent. The others take the ordinary path.
//
// Pooled sandboxes are no one's: ListPodSandbox does not show them, and
// they are removed when the pool stops (with the daemon); a crash leaves
// them to start-up recovery, which removes them like half-made ones.

// pool is the runtime's sandbox pool; its fields but busy are under
// Service.mu.
type pool struct {
	// busy counts the sandboxes and containers being made or started:
	// the pool waits for them before it makes one, rather than take
	// the CPU from a pod that is starting.
	busy atomic.Int32
	// size is how many sandboxes to keep ready; 0 while no pool runs.
	size int
	// ready are the pooled sandboxes, oldest first.
	ready []*sandbox
	// wake asks the filler for more (a claim took one).
	wake chan struct{}
}

// poolNamespace is the metadata namespace of a pooled sandbox until a pod
// claims it (what CNI plugins see as K8S_POD_NAMESPACE).
const poolNamespace = "peapod-sandbox-pool"

// PoolUnsupported says why this runtime cannot keep a sandbox pool, or
// "" when it can.
func (s *Service) PoolUnsupported() string {
	switch {
	case s.cfg.SystemdCgroup:
		return "the systemd cgroup driver (a pause cannot be moved into a pod's slice)"
	case s.cfg.CgroupRoot == "":
		return "no cgroup root"
	case s.cfg.Network == nil:
		return "no pod network"
	}
	return ""
}

// RunPool keeps size sandboxes ready for pods to claim until ctx ends,
// then removes the ones left. With size 0, or where the pool is
// unsupported, it does nothing.
func (s *Service) RunPool(ctx context.Context, size int) error {
	if size <= 0 {
		return nil
	}
	if why := s.PoolUnsupported(); why != "" {
		s.log.Info("no sandbox pool on this node", "reason", why)
		return nil
	}
	wake := make(chan struct{}, 1)
	s.mu.Lock()
	s.pool.size, s.pool.wake = size, wake
	s.mu.Unlock()
	defer s.drainPool()
	backoff := time.Second
	for {
		for ctx.Err() == nil && s.poolShort() {
			s.pool.waitIdle(ctx)
			sb, err := s.makePooled(ctx)
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				s.log.Warn("making a sandbox for the pool", "err", err, "retry_in", backoff)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, time.Minute)
				continue
			}
			backoff = time.Second
			s.mu.Lock()
			s.pool.ready = append(s.pool.ready, sb)
			s.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		}
	}
}

// The pool waits for a quiet moment: nothing made or started for
// poolIdleQuiet (a pod's sandbox and its containers are separate calls,
// with the kubelet's work between them). The wait is bounded, so that
// under a steady stream of pods the pool still refills.
const (
	poolIdlePoll    = 5 * time.Millisecond
	poolIdleQuiet   = 20 * time.Millisecond
	poolIdleMaxWait = time.Second
)

// starting counts a sandbox or container being made or started until the
// function it returns is called.
func (p *pool) starting() func() {
	p.busy.Add(1)
	return func() { p.busy.Add(-1) }
}

// waitIdle waits for a quiet moment, the end of ctx or poolIdleMaxWait.
func (p *pool) waitIdle(ctx context.Context) {
	deadline := time.Now().Add(poolIdleMaxWait)
	var quietSince time.Time
	for ctx.Err() == nil && time.Now().Before(deadline) {
		switch {
		case p.busy.Load() > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= poolIdleQuiet:
			return
		}
		time.Sleep(poolIdlePoll)
	}
}

// poolShort reports whether the pool holds fewer sandboxes than it keeps.
func (s *Service) poolShort() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pool.ready) < s.pool.size
}

// makePooled makes one sandbox for the pool.
func (s *Service) makePooled(ctx context.Context) (*sandbox, error) {
	id := newID()
	name := "pooled-" + id[:12]
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: poolNamespace, Uid: id},
		Hostname: name,
		Linux:    &runtimeapi.LinuxPodSandboxConfig{},
	}
	sb := s.newSandbox(id, cfg, "")
	sb.Pooled = true
	start := time.Now()
	if err := s.makeSandbox(ctx, sb); err != nil {
		return nil, err
	}
	s.log.Debug("pooled sandbox ready", "sandbox", id, "duration", time.Since(start))
	return sb, nil
}

// unpoolable says why a pooled sandbox cannot serve the sandbox config
// cfg with the runtime handler handler, or "" when one can.
func (s *Service) unpoolable(cfg *runtimeapi.PodSandboxConfig, handler string) string {
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	rt, _ := s.handler(handler)
	switch {
	case rt != s.cfg.Runtime:
		return "runtime handler " + handler
	case ns.GetNetwork() == runtimeapi.NamespaceMode_NODE:
		return "host network"
	case ns.GetIpc() == runtimeapi.NamespaceMode_NODE:
		return "host IPC"
	case ns.GetUsernsOptions() != nil && ns.GetUsernsOptions().GetMode() == runtimeapi.NamespaceMode_POD:
		return "user namespace"
	case len(cfg.GetLinux().GetSysctls()) > 0:
		return "sysctls"
	case len(cfg.GetPortMappings()) > 0:
		return "host ports"
	case cfg.GetHostname() == "":
		return "no hostname"
	case cgroup.Leaf{Parent: cfg.GetLinux().GetCgroupParent()}.Systemd():
		return "systemd cgroup parent"
	}
	return ""
}

// claimPooled gives the pod of cfg a pooled sandbox, reserved under
// name, when the pool has one and it can serve the pod; nil otherwise
// (the caller makes a sandbox). A claim that fails removes the pooled
// sandbox and returns nil too.
func (s *Service) claimPooled(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler, name string) *sandbox {
	s.mu.Lock()
	running := s.pool.size > 0
	s.mu.Unlock()
	if !running {
		return nil
	}
	if why := s.unpoolable(cfg, handler); why != "" {
		s.log.Debug("sandbox not from the pool", "pod", cfg.GetMetadata().GetNamespace()+"/"+cfg.GetMetadata().GetName(), "reason", why)
		return nil
	}
	s.mu.Lock()
	if _, taken := s.names[name]; taken || len(s.pool.ready) == 0 {
		s.mu.Unlock()
		return nil // a taken name fails on the ordinary path
	}
	sb := s.pool.ready[0]
	s.pool.ready = s.pool.ready[1:]
	_ = s.names.reserve("sandbox", name, sb.ID)
	select {
	case s.pool.wake <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	md := cfg.GetMetadata()
	log := s.log.With("sandbox", sb.ID, "pod", md.GetNamespace()+"/"+md.GetName())
	start := time.Now()
	if err := s.claim(sb, cfg, handler); err != nil {
		log.Warn("claiming a pooled sandbox failed; making a new one", "err", err)
		s.releaseName(name, sb.ID)
		s.discardPooled(ctx, sb)
		return nil
	}
	log.Debug("pooled sandbox claimed", "duration", time.Since(start))
	s.enterSandbox(sb)
	return sb
}

// claim makes the pooled sandbox sb the one of the pod of cfg. On error
// sb is left for discardPooled, which removes what claim changed too.
func (s *Service) claim(sb *sandbox, cfg *runtimeapi.PodSandboxConfig, handler string) error {
	s.mu.Lock()
	p := sb.pause
	s.mu.Unlock()
	if p == nil || !p.Running() {
		return errors.New("its pause process has exited")
	}
	if err := setHostname(sb.PausePID, cfg.GetHostname()); err != nil {
		return err
	}
	if !p.Running() { // the PID was not reused while setHostname used it
		return errors.New("its pause process has exited")
	}
	if err := s.writeNameFiles(sb.ID, cfg); err != nil {
		return err
	}
	cg, own := sb.Cgroup, sb.OwnCgroup
	if parent := cfg.GetLinux().GetCgroupParent(); parent != "" {
		leaf := cgroup.Leaf{Parent: parent, ID: sb.ID}
		if err := leaf.Move(sb.PausePID, &cgroups.Resources{CpuShares: sandboxCPUShares}); err != nil {
			return errors.Join(err, leaf.Destroy())
		}
		// The cgroup the pool made is empty now.
		if err := cgroup.Destroy(sb.Cgroup); err != nil {
			return errors.Join(err, leaf.Destroy())
		}
		cg, own = parent, false
	}
	s.mu.Lock()
	sb.Config, sb.Handler, sb.Cgroup, sb.OwnCgroup = cfg, handler, cg, own
	sb.PidNS = cfg.GetLinux().GetSecurityContext().GetNamespaceOptions().GetPid()
	sb.CreatedAt = time.Now().UnixNano()
	sb.Pooled = false
	sn := snap(&sb.rec, s.sandboxDir(sb.ID), sb)
	s.mu.Unlock()
	return sn.write(false)
}

// setHostname sets the hostname in the UTS namespace of process pid. The
// thread that joins that namespace is never unlocked: it ends with its
// goroutine rather than run others in the pod's namespace.
func setHostname(pid int, name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/uts", pid))
			if err != nil {
				return fmt.Errorf("opening the UTS namespace of the pause: %w", err)
			}
			defer ns.Close()
			if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWUTS); err != nil {
				return fmt.Errorf("joining the UTS namespace of the pause: %w", err)
			}
			if err := unix.Sethostname([]byte(name)); err != nil {
				return fmt.Errorf("setting the hostname %q: %w", name, err)
			}
			return nil
		}()
	}()
	return <-errc
}

// discardPooled removes a pooled sandbox no pod will use.
func (s *Service) discardPooled(ctx context.Context, sb *sandbox) {
	s.mu.Lock()
	p := sb.pause
	sb.pause = nil
	s.mu.Unlock()
	if p != nil {
		p.Close()
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := s.unmakeSandbox(rctx, sb, ""); err != nil {
		s.log.Warn("removing a pooled sandbox", "sandbox", sb.ID, "err", err)
	}
}

// drainPool stops claims and removes the pooled sandboxes.
func (s *Service) drainPool() {
	s.mu.Lock()
	ready := s.pool.ready
	s.pool.size, s.pool.ready, s.pool.wake = 0, nil, nil
	s.mu.Unlock()
	for _, sb := range ready {
		s.discardPooled(context.Background(), sb)
	}
	if len(ready) > 0 {
		s.log.Info("sandbox pool emptied", "removed", len(ready))
	}
}
