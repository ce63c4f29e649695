package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/runtime/conmon"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/rootfs"
)

// Creating a sandbox or a container is a sequence of steps, each making
// one thing on the node. Before taking a step, creation records it in the
// object's record on disk (begin), so that after a crash at any instant
// the record tells how far creation got. Rolling back a create that
// failed, removing an object and recovering a half-made one at start-up
// all unmake the steps begun, newest first, with the same undo functions,
// each a no-op when its step had not taken effect; the object's
// directories and record go last.
const (
	stepNetNS   = "netns"   // the pinned network namespace
	stepNetwork = "network" // the CNI attachment: veth, IP reservation, portmap rules
	stepFiles   = "files"   // bundle directory, hostname, resolv.conf and the /dev/shm mount
	stepPause   = "pause"   // runc's container (the pause process) and its cgroup
	stepRootfs  = "rootfs"  // the overlay mount
	stepRuntime = "runtime" // conmon, runc's container and its cgroup
)

// A step names one thing creation makes and how to unmake it.
type step[T any] struct {
	name string
	undo func(s *Service, ctx context.Context, obj T) error
}

// sandboxSteps are a sandbox's steps in the order creation begins them
// (the network is set up while the pause process starts).
var sandboxSteps = []step[*sandbox]{
	{stepNetNS, (*Service).removeNetNS},
	{stepNetwork, (*Service).detachNetwork},
	{stepFiles, (*Service).removeSandboxFiles},
	{stepPause, (*Service).deletePause},
}

// containerSteps are a container's steps in creation order.
var containerSteps = []step[*container]{
	{stepRootfs, (*Service).unmountRootfs},
	{stepRuntime, (*Service).deleteRuntimeContainer},
}

// undoSteps unmakes steps up to and including last ("" or a name it does
// not know: all of them), newest first. Every undo runs even when a later
// step's failed; the errors are joined.
func undoSteps[T any](ctx context.Context, s *Service, steps []step[T], last string, obj T) error {
	n := len(steps)
	if i := slices.IndexFunc(steps, func(st step[T]) bool { return st.name == last }); i >= 0 {
		n = i + 1
	}
	var errs []error
	for i := n - 1; i >= 0; i-- {
		if err := steps[i].undo(s, ctx, obj); err != nil {
			errs = append(errs, fmt.Errorf("undoing %s: %w", steps[i].name, err))
		}
	}
	return errors.Join(errs...)
}

// beginSandbox records that creating sb takes step next.
func (s *Service) beginSandbox(sb *sandbox, step string) error {
	s.mu.Lock()
	sb.Step = step
	sn := snap(&sb.rec, s.sandboxDir(sb.ID), sb)
	s.mu.Unlock()
	if err := sn.write(false); err != nil {
		return err
	}
	s.cfg.Failpoints.Hit("sandbox-" + step)
	return nil
}

// beginContainer records that creating c takes step next. Unlike a
// sandbox's (fsynced before its CNI attachment), a container's record
// needs no fsync: all it makes that outlives a power cut is its own state
// directory, which start-up recovery removes when its record did not
// survive.
func (s *Service) beginContainer(c *container, step string) error {
	s.mu.Lock()
	c.Step = step
	sn := snap(&c.rec, s.containerDir(c.ID), c)
	s.mu.Unlock()
	if err := sn.write(false); err != nil {
		return err
	}
	s.cfg.Failpoints.Hit("container-" + step)
	return nil
}

// unmakeSandbox undoes sb's steps up to last and removes its directories
// and record. sb must be out of the sandbox map, or about to leave it.
func (s *Service) unmakeSandbox(ctx context.Context, sb *sandbox, last string) error {
	if err := undoSteps(ctx, s, sandboxSteps, last, sb); err != nil {
		return err
	}
	return s.dropSandbox(sb)
}

// dropSandbox removes the directories and record of an unmade sandbox.
func (s *Service) dropSandbox(sb *sandbox) error {
	return errors.Join(os.RemoveAll(s.sandboxRunDir(sb.ID)), sb.rec.remove(s.sandboxDir(sb.ID)))
}

// unmakeContainer undoes c's steps up to last and removes its
// directories and record.
func (s *Service) unmakeContainer(ctx context.Context, c *container, last string) error {
	if err := undoSteps(ctx, s, containerSteps, last, c); err != nil {
		return err
	}
	return s.dropContainer(c)
}

// dropContainer removes the directories and record of an unmade
// container.
func (s *Service) dropContainer(c *container) error {
	return errors.Join(os.RemoveAll(s.containerRunDir(c.ID)), c.rec.remove(s.containerDir(c.ID)))
}

func (s *Service) removeNetNS(_ context.Context, sb *sandbox) error {
	if sb.NetNS == "" {
		return nil
	}
	return network.RemoveNetNS(sb.NetNS)
}

// detachNetwork runs CNI DEL unless the sandbox is known to be detached
// already (a created sandbox whose StopPodSandbox tore the network down).
func (s *Service) detachNetwork(ctx context.Context, sb *sandbox) error {
	s.mu.Lock()
	skip := sb.NetNS == "" || (sb.Step == "" && !sb.Network)
	s.mu.Unlock()
	if skip {
		return nil
	}
	return s.teardownNetwork(ctx, sb)
}

// teardownNetwork runs CNI DEL for the sandbox and marks it detached.
func (s *Service) teardownNetwork(ctx context.Context, sb *sandbox) error {
	if err := s.cfg.Network.Teardown(ctx, s.attachment(sb)); err != nil {
		return err
	}
	s.mu.Lock()
	sb.Network = false
	s.mu.Unlock()
	return nil
}

// removeSandboxFiles unmounts the sandbox's /dev/shm; the files go with
// its directories.
func (s *Service) removeSandboxFiles(_ context.Context, sb *sandbox) error {
	return unmountAll(s.shmPath(sb.ID))
}

// deletePause removes the pause container: runc's state and its cgroup
// with whatever still runs in it (and, for a sandbox an older peapod made,
// the pause's conmon if one is still there, its exit file and socket
// link).
func (s *Service) deletePause(ctx context.Context, sb *sandbox) error {
	err := s.deleteRuntimeObject(ctx, sb.ID, s.sandboxRunDir(sb.ID), pauseCgroup(sb))
	if sb.OwnCgroup {
		// The parent the runtime made for a sandbox that came without
		// one; its containers' leaves are gone by now.
		err = errors.Join(err, cgroup.Destroy(sb.Cgroup))
	}
	return err
}

func (s *Service) unmountRootfs(_ context.Context, c *container) error {
	dir := s.containerDir(c.ID)
	return errors.Join(mount.UnmountUnder(filepath.Join(dir, rroDir)), mount.UnmountUnder(filepath.Join(dir, imageVolumeDir)), rootfs.Unmount(dir))
}

func (s *Service) deleteRuntimeContainer(ctx context.Context, c *container) error {
	return s.deleteRuntimeObject(ctx, c.ID, s.containerRunDir(c.ID), cgroup.ParseLeaf(c.Cgroup))
}

// deleteRuntimeObject removes what conmon and runc made for id.
func (s *Service) deleteRuntimeObject(ctx context.Context, id, bundle string, leaf cgroup.Leaf) error {
	conmon.Kill(bundle, id)
	errs := []error{s.runtimeOf(id).Delete(ctx, id, true), s.cfg.Conmon.Cleanup(id)}
	// runc removes the cgroup when it knows the container; one a crash
	// left without a runc state stays otherwise.
	if leaf.Exists() {
		errs = append(errs, leaf.Destroy())
	}
	return errors.Join(errs...)
}

// pauseCgroup is the pause container's cgroup (no parent: none).
func pauseCgroup(sb *sandbox) cgroup.Leaf { return cgroup.Leaf{Parent: sb.Cgroup, ID: sb.ID} }

// shmPath is the sandbox's /dev/shm mount point.
func (s *Service) shmPath(id string) string { return filepath.Join(s.sandboxRunDir(id), shmDir) }
