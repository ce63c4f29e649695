package daemon

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/mount"
	"github.com/peapod/peapod/internal/runtime/network"
)

// Reset removes everything peapod runs on this node while the daemon is
// stopped: every sandbox and container the runtime has records of (with
// their mounts, namespaces, network attachments, cgroups and state), then
// every trace of one it has no record of (what a crash can leave: see
// cri.Service.Sweep), the pod network's bridge and masquerade rule, and the
// kubepods cgroups with anything still running in them. API objects are
// kept; a later `serve` recreates the pods that still exist.
func Reset(ctx context.Context, opts Options, log *slog.Logger) error {
	opts = opts.withDefaults()
	d := &Daemon{opts: opts, log: log}
	// Building the runtime recovers it: half-made objects are unmade and
	// orphans swept before anything is listed.
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
	// With no record left, everything of peapod's kinds is an orphan.
	errs = append(errs, rt.Sweep(ctx))
	errs = append(errs, network.RemoveMasquerade("peapod", opts.PodCIDR))
	if link, err := netlink.LinkByName(opts.Bridge); err == nil {
		errs = append(errs, netlink.LinkDel(link))
	}
	if driver, kubepods, err := opts.kubepods(); err != nil {
		errs = append(errs, err)
	} else {
		errs = append(errs, driver.Destroy(kubepods))
	}
	errs = append(errs, removePodDirs(opts))
	return errors.Join(errs...)
}

// removePodDirs removes the kubelet's pod directories and the log
// directories of those pods (<ns>_<name>_<uid>); log directories of pods
// peapod never ran stay.
func removePodDirs(opts Options) error {
	podsDir := filepath.Join(opts.DataDir, "kubelet", "pods")
	entries, _ := os.ReadDir(podsDir)
	// Volumes' tmpfs mounts first, or their directories cannot go.
	errs := []error{mount.UnmountUnder(podsDir)}
	for _, e := range entries {
		logs, _ := filepath.Glob(filepath.Join(opts.LogDir, "*_"+e.Name()))
		for _, l := range logs {
			errs = append(errs, os.RemoveAll(l))
		}
		errs = append(errs, os.RemoveAll(filepath.Join(podsDir, e.Name())))
	}
	return errors.Join(errs...)
}
