// Package cgroup names cgroups the kubelet's way and makes them with the
// cgroupfs or the systemd driver (Name, Driver, and Leaf for a
// container's cgroup below its pod's), removes them for good and finds
// the ones left behind, on cgroup v1 (every controller hierarchy) and v2
// (the unified tree) alike, through github.com/opencontainers/cgroups.
// Removing a cgroup
// first kills what still runs in it, as the kubelet's pod container
// manager does before it deletes a pod's cgroup: a cgroup with processes
// cannot be removed, and a process left in one is a leak.
package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/opencontainers/cgroups"
	cgmanager "github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// mountRoot is where cgroup hierarchies are mounted.
const mountRoot = "/sys/fs/cgroup"

// killAttempts bounds how often Destroy signals what is left in a cgroup
// before it gives up (the kubelet tries 5 times).
const killAttempts = 5

// Destroy kills every process in the cgroup at p (an absolute cgroup path
// such as /kubepods/burstable/pod<uid>) and its descendants, then removes
// them all, deepest first, in every hierarchy. A cgroup that does not
// exist is fine.
func Destroy(p string) error {
	mgr, err := cgmanager.New(&cgroups.Cgroup{Path: p, Resources: &cgroups.Resources{SkipDevices: true}})
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", p, err)
	}
	paths := mgr.GetPaths()
	if err := killAll(paths); err != nil {
		return fmt.Errorf("killing the processes of cgroup %s: %w", p, err)
	}
	if err := cgroups.RemovePaths(paths); err != nil {
		return fmt.Errorf("removing cgroup %s: %w", p, err)
	}
	return nil
}

// killAll SIGKILLs the processes of the cgroup directories until none is
// left or the attempts run out.
func killAll(paths map[string]string) error {
	delay := 5 * time.Millisecond
	for attempt := 0; ; attempt++ {
		pids := map[int]bool{}
		for _, dir := range paths {
			found, err := cgroups.GetAllPids(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			for _, pid := range found {
				pids[pid] = true
			}
		}
		if len(pids) == 0 {
			return nil
		}
		if attempt == killAttempts {
			return fmt.Errorf("%d processes still running", len(pids))
		}
		for pid := range pids {
			if err := unix.Kill(pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("killing %d: %w", pid, err)
			}
		}
		// A killed process leaves its cgroup once it is reaped.
		time.Sleep(delay)
		delay *= 2
	}
}

// Exists reports whether the cgroup at p exists in any hierarchy.
func Exists(p string) bool {
	for _, h := range hierarchies() {
		if _, err := os.Stat(filepath.Join(h, p)); err == nil {
			return true
		}
	}
	return false
}

// Find returns the cgroups under root (an absolute cgroup path) whose
// last path element satisfies match, in any hierarchy, without
// descending into a match. Paths are absolute cgroup paths.
func Find(root string, match func(name string) bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, h := range hierarchies() {
		base := filepath.Join(h, root)
		_ = filepath.WalkDir(base, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() || p == base {
				return nil
			}
			if !match(e.Name()) {
				return nil
			}
			rel, _ := filepath.Rel(h, p)
			cg := path.Join("/", filepath.ToSlash(rel))
			if !seen[cg] {
				seen[cg] = true
				out = append(out, cg)
			}
			return filepath.SkipDir
		})
	}
	return out
}

// hierarchies lists the mount points of the cgroup hierarchies: the v1
// controller directories (symlinked aliases such as cpu -> cpu,cpuacct
// left out), the hybrid layout's unified tree, or the v2 root itself.
func hierarchies() []string {
	if cgroups.IsCgroup2UnifiedMode() {
		return []string{mountRoot}
	}
	entries, _ := os.ReadDir(mountRoot)
	var out []string
	for _, e := range entries {
		if e.IsDir() { // DirEntry does not follow symlinks
			out = append(out, filepath.Join(mountRoot, e.Name()))
		}
	}
	return out
}
