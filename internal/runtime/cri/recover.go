package cri

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/pidfd"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// recoverTimeout bounds start-up recovery.
const recoverTimeout = 2 * time.Minute

// load reads the records and reconciles them with the node, before the
// service is used: what exited while peapod was away is marked exited,
// what a crash left half made is unmade (see steps.go), containers whose
// sandbox is gone are removed, and then Sweep removes every trace of
// anything without a record. The exit watcher already runs, so records
// enter the maps under s.mu, complete, and exits found afterwards go
// through the same (idempotent) handlers as live ones.
func (s *Service) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, recoverTimeout)
	defer cancel()
	var halfSandboxes []*sandbox
	var halfContainers []*container
	var live []string
	for _, id := range s.recordIDs(sandboxRecordDir(s.cfg.StateDir)) {
		sb := &sandbox{exited: make(chan struct{})}
		if err := readRecord(s.sandboxDir(id), sb); err != nil || sb.ID != id {
			s.log.Warn("removing unreadable sandbox record", "sandbox", id, "err", err)
			s.logRemoval("sandbox record", id, os.RemoveAll(s.sandboxDir(id)))
			continue
		}
		if sb.Step != "" || sb.Pooled {
			// Half made, or made for the pool, which a new start
			// fills anew.
			halfSandboxes = append(halfSandboxes, sb)
			continue
		}
		if sb.State != runtimeapi.PodSandboxState_SANDBOX_READY {
			close(sb.exited)
		} else {
			live = append(live, sb.ID)
		}
		s.mu.Lock()
		s.sandboxes[sb.ID] = sb
		s.keepName("sandbox", sandboxName(sb.Config.GetMetadata()), sb.ID)
		s.mu.Unlock()
	}
	for _, id := range s.recordIDs(containerRecordDir(s.cfg.StateDir)) {
		c := &container{exited: make(chan struct{})}
		if err := readRecord(s.containerDir(id), c); err != nil || c.ID != id {
			s.log.Warn("removing unreadable container record", "container", id, "err", err)
			s.logRemoval("container root", id, rootfs.Unmount(s.containerDir(id)))
			s.logRemoval("container record", id, os.RemoveAll(s.containerDir(id)))
			continue
		}
		sb, ok := s.getSandbox(c.SandboxID)
		if c.Step != "" || !ok {
			// Half made, or its sandbox is gone: nothing can use it.
			halfContainers = append(halfContainers, c)
			continue
		}
		if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			close(c.exited)
		} else {
			live = append(live, c.ID)
		}
		c.name = containerName(c.Config.GetMetadata(), sb.Config.GetMetadata())
		s.mu.Lock()
		s.containers[c.ID] = c
		s.keepName("container", c.name, c.ID)
		s.mu.Unlock()
	}
	// A conmon or `runc create` still at work on a half-made object would
	// race its undo: stop them first.
	s.killStrays()
	for _, c := range halfContainers {
		s.log.Info("removing container left half made", "container", c.ID, "sandbox", c.SandboxID, "step", c.Step)
		s.logRemoval("container", c.ID, s.unmakeContainer(ctx, c, ""))
	}
	for _, sb := range halfSandboxes {
		if sb.Pooled && sb.Step == "" {
			s.log.Info("removing pooled sandbox", "sandbox", sb.ID)
		} else {
			s.log.Info("removing sandbox left half made", "sandbox", sb.ID, "step", sb.Step)
		}
		s.logRemoval("sandbox", sb.ID, s.unmakeSandbox(ctx, sb, sb.Step))
	}
	for _, id := range live {
		s.reconcileLive(ctx, id)
	}
	// What the sweep cannot remove now must not keep the node from
	// starting; each failure is logged, and the next start tries again.
	if err := s.Sweep(ctx); err != nil {
		s.log.Warn("orphans left after the start-up sweep", "err", err)
	}
	return nil
}

// keepName reserves the name of a recorded object again; callers hold
// s.mu. Records written before names were reserved may share one: the
// first keeps it, and the others stay usable under their IDs.
func (s *Service) keepName(kind, name, id string) {
	if err := s.names.reserve(kind, name, id); err != nil {
		s.log.Warn("recorded "+kind+" shares its name", "id", id, "err", err)
	}
}

// reconcileLive checks a container or sandbox recorded as created or
// running against runc.
func (s *Service) reconcileLive(ctx context.Context, id string) {
	st, err := s.runtimeOf(id).State(ctx, id)
	if err != nil || (st.Status != "running" && st.Status != "created") {
		s.handleExit(id)
		return
	}
	if sb, ok := s.getSandbox(id); ok {
		s.watchRecoveredPause(sb, st.Pid)
		return
	}
	// A start that runc carried out but whose result peapod did not live
	// to record.
	c, ok := s.getContainer(id)
	if !ok || st.Status != "running" {
		return
	}
	s.mu.Lock()
	changed := c.State == runtimeapi.ContainerState_CONTAINER_CREATED
	if changed {
		c.State, c.StartedAt = runtimeapi.ContainerState_CONTAINER_RUNNING, time.Now().UnixNano()
	}
	s.mu.Unlock()
	if changed {
		s.logSave("container", id, s.saveContainer(c))
	}
}

// watchRecoveredPause watches the pause process of a sandbox found
// running after a restart, as RunPodSandbox does for a new one.
func (s *Service) watchRecoveredPause(sb *sandbox, pid int) {
	proc, err := pidfd.Open(pid)
	if err != nil {
		// Gone between runc's answer and now.
		s.sandboxExited(sb)
		return
	}
	s.mu.Lock()
	sb.pause = proc
	s.mu.Unlock()
	go s.watchPause(sb)
}

// alive reports whether runc knows the container as created or running.
func (s *Service) alive(ctx context.Context, id string) bool {
	st, err := s.runtimeOf(id).State(ctx, id)
	return err == nil && (st.Status == "running" || st.Status == "created")
}

// recordIDs lists the object directories under dir.
func (s *Service) recordIDs(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// Sweep removes every trace on the node of a sandbox or container the
// runtime has no record of, one kind at a time: stray conmon and runc
// processes, runc's container states, cgroups, pod network attachments
// (CNI results, IP reservations, portmap rules, veths), pinned network
// namespaces, mounts under peapod's directories, and run-time files
// (bundles, exit files, conmon sockets). It logs one line per removal,
// goes on past failures and returns them joined. It runs at start-up, and
// `peapod reset` runs it once every recorded object is removed.
func (s *Service) Sweep(ctx context.Context) error {
	known := s.knownIDs()
	var errs []error
	s.killStrays()

	for _, rt := range s.runtimes() {
		entries, _ := os.ReadDir(rt.Root)
		for _, e := range entries {
			if id := e.Name(); e.IsDir() && !known[id] {
				errs = append(errs, s.logRemoval(rt.Name()+" container", id, rt.Delete(ctx, id, true)))
			}
		}
	}
	if s.cfg.CgroupRoot != "" {
		for _, leaf := range cgroup.FindLeaves(s.cfg.CgroupRoot, isID) {
			if !known[leaf.ID] {
				errs = append(errs, s.logRemoval("cgroup", leaf.Path(), leaf.Destroy()))
			}
		}
	}

	orphans := network.Orphans{Known: map[string]bool{}, NetNS: map[string]string{}}
	s.mu.Lock()
	for id, sb := range s.sandboxes {
		orphans.Known[id] = sb.Network
	}
	for _, sb := range s.pool.ready {
		orphans.Known[sb.ID] = sb.Network
	}
	s.mu.Unlock()
	pins, _ := os.ReadDir(filepath.Join(s.cfg.RunDir, "netns"))
	for _, e := range pins {
		if id := e.Name(); !known[id] {
			orphans.NetNS[id] = s.netnsPath(id)
		}
	}
	if s.cfg.Network != nil {
		errs = append(errs, s.cfg.Network.Sweep(ctx, orphans, s.log))
	}
	for id, p := range orphans.NetNS {
		errs = append(errs, s.logRemoval("network namespace", id, network.RemoveNetNS(p)))
	}

	errs = append(errs, s.sweepMounts())
	for _, dir := range []string{"sandboxes", "containers"} {
		entries, _ := os.ReadDir(filepath.Join(s.cfg.RunDir, dir))
		for _, e := range entries {
			if id := e.Name(); !known[id] {
				errs = append(errs, s.logRemoval("bundle", id, os.RemoveAll(filepath.Join(s.cfg.RunDir, dir, id))))
			}
		}
	}
	for _, dir := range []string{s.cfg.Conmon.ExitDir, s.cfg.Conmon.SocketDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			id := e.Name()
			if strings.Contains(id, ".") { // conmon's temporary exit files
				id, _, _ = strings.Cut(id, ".")
			}
			if !known[id] {
				errs = append(errs, s.logRemoval("conmon file", e.Name(), ignoreNotExist(os.Remove(filepath.Join(dir, e.Name())))))
			}
		}
	}
	return errors.Join(errs...)
}

// knownIDs is the set of sandbox and container IDs with a record.
func (s *Service) knownIDs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	known := make(map[string]bool, len(s.sandboxes)+len(s.containers))
	for id := range s.sandboxes {
		known[id] = true
	}
	for id := range s.containers {
		known[id] = true
	}
	for _, sb := range s.pool.ready {
		known[sb.ID] = true
	}
	return known
}

// logRemoval logs one removal of an orphan and passes its error on.
func (s *Service) logRemoval(kind, id string, err error) error {
	if err != nil {
		s.log.Warn("removing orphan "+kind, "id", id, "err", err)
		return fmt.Errorf("removing %s %s: %w", kind, id, err)
	}
	s.log.Info("removed orphan "+kind, "id", id)
	return nil
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// isID reports whether name is a sandbox or container ID.
func isID(name string) bool { return idPattern.MatchString(name) }

// killStrays kills the processes a crash can leave working for an object
// the runtime does not know: conmon and runc, whose command lines name
// peapod's run directory and the object's ID (conmon's -c, runc's last
// argument), and CNI plugins (with the iptables they run), whose
// environment names the sandbox's namespace pin under the run directory
// and its ID. Recovery must not race them.
func (s *Service) killStrays() {
	known := s.knownIDs()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	runDir := strings.TrimSuffix(s.cfg.RunDir, "/") + "/"
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == self {
			continue
		}
		var id string
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if strings.Contains(string(cmdline), runDir) {
			id = strayID(args)
		} else if environ, err := os.ReadFile(filepath.Join(p, "environ")); err == nil && strings.Contains(string(environ), "CNI_NETNS="+runDir) {
			for _, kv := range strings.Split(string(environ), "\x00") {
				if v, ok := strings.CutPrefix(kv, "CNI_CONTAINERID="); ok && isID(v) {
					id = v
				}
			}
		}
		if id == "" || known[id] {
			continue
		}
		if err := unix.Kill(pid, unix.SIGKILL); err == nil {
			s.log.Info("killed orphan process", "pid", pid, "id", id, "cmdline", strings.Join(args, " "))
		}
	}
}

// strayID is the ID a conmon or runtime process works for, or "".
func strayID(args []string) string {
	for i, a := range args {
		if a == "-c" && i+1 < len(args) && isID(args[i+1]) {
			return args[i+1]
		}
	}
	if last := args[len(args)-1]; isID(last) {
		return last
	}
	return ""
}

// sweepMounts unmounts what is mounted under the runtime's directories
// without belonging to a known sandbox (its netns pin and /dev/shm) or
// container (its root), deepest first.
func (s *Service) sweepMounts() error {
	keep := map[string]bool{}
	s.mu.Lock()
	for _, sb := range append(slices.Collect(maps.Values(s.sandboxes)), s.pool.ready...) {
		keep[s.shmPath(sb.ID)] = true
		if sb.NetNS != "" {
			keep[sb.NetNS] = true
		}
	}
	for id := range s.containers {
		keep[rootfs.MergedPath(s.containerDir(id))] = true
	}
	s.mu.Unlock()
	points, err := mount.Points()
	if err != nil {
		return err
	}
	var stale []string
	for _, p := range points {
		if keep[p] {
			continue
		}
		for _, root := range []string{s.cfg.StateDir, s.cfg.RunDir} {
			if strings.HasPrefix(p, strings.TrimSuffix(root, "/")+"/") {
				stale = append(stale, p)
				break
			}
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(stale)))
	var errs []error
	for _, p := range stale {
		err := unix.Unmount(p, unix.MNT_DETACH)
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			err = nil // gone with its parent
		}
		errs = append(errs, s.logRemoval("mount", p, err))
	}
	return errors.Join(errs...)
}
