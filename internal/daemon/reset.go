package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/network"
)

// Reset removes everything peapod runs on this node while the daemon is
// stopped: every sandbox and container the runtime has records of (with
// their mounts, namespaces, network attachments, cgroups and state), the
// pod network's bridge and masquerade rule, and the kubepods cgroups. API
// objects are kept; a later `serve` recreates the pods that still exist.
func Reset(ctx context.Context, opts Options, log *slog.Logger) error {
	opts = opts.withDefaults()
	d := &Daemon{opts: opts, log: log}
	rt, err := d.newRuntime(ctx, log)
	if err != nil {
		return err
	}
	sbs, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, sb := range sbs.GetItems() {
		log.Info("removing sandbox", "sandbox", sb.Id, "pod", sb.GetMetadata().GetNamespace()+"/"+sb.GetMetadata().GetName())
		if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			errs = append(errs, err)
		}
	}
	ctrs, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err == nil {
		for _, c := range ctrs.GetContainers() {
			if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
				errs = append(errs, err)
			}
		}
	}
	errs = append(errs, network.RemoveMasquerade("peapod", opts.PodCIDR))
	if link, err := netlink.LinkByName(opts.Bridge); err == nil {
		errs = append(errs, netlink.LinkDel(link))
	}
	errs = append(errs, removeCgroupTree(filepath.Join(opts.CgroupRoot, "kubepods")))
	return errors.Join(errs...)
}

// removeCgroupTree removes a cgroup and its descendants, deepest first, in
// every mounted hierarchy (v1 controllers or the v2 unified tree).
func removeCgroupTree(p string) error {
	hierarchies, _ := filepath.Glob("/sys/fs/cgroup/*")
	hierarchies = append(hierarchies, "/sys/fs/cgroup")
	var errs []error
	for _, h := range hierarchies {
		base := filepath.Join(h, p)
		var dirs []string
		_ = filepath.WalkDir(base, func(path string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
