package cri

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
)

// TestContainerCgroupValues reads back, from the cgroup files, what the
// runtime sets for a container and for the pause process, on whichever
// cgroup version the host runs (v1 here, v2 in the VM of
// hack/test-cgroup2.sh): cpu.shares or the cpu.weight runc derives from
// them, the CFS quota, the memory limit, memory.oom.group on v2 (the
// kubelet asks for it there), the pause's shares of 2; and that removing
// the sandbox leaves no cgroup under its parent.
func TestContainerCgroupValues(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	v2 := cgroups.IsCgroup2UnifiedMode()

	cfg := sandboxConfig(e)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	res := &runtimeapi.LinuxContainerResources{CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000, MemoryLimitInBytes: 128 << 20}
	if v2 {
		res.Unified = map[string]string{"memory.oom.group": "1"}
	}
	ccfg := containerConfig("app", "sleep", "60")
	ccfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: res}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg, Config: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	rec, _ := svc.getContainer(c.ContainerId)
	sbRec, _ := svc.getSandbox(sb.PodSandboxId)
	read := func(leaf cgroup.Leaf, v1Controller, file string) string {
		t.Helper()
		path := filepath.Join("/sys/fs/cgroup", leaf.Path(), file)
		if !v2 {
			path = filepath.Join("/sys/fs/cgroup", v1Controller, leaf.Path(), file)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	ctr, pause := cgroup.ParseLeaf(rec.Cgroup), pauseCgroup(sbRec)
	type value struct {
		leaf             cgroup.Leaf
		controller, file string
		want             string
	}
	var want []value
	if v2 {
		want = []value{
			// runc's shares → weight: 1 + (shares-2)*9999/262142.
			{ctr, "", "cpu.weight", "10"},
			{ctr, "", "cpu.max", "50000 100000"},
			{ctr, "", "memory.max", "134217728"},
			{ctr, "", "memory.oom.group", "1"},
			{pause, "", "cpu.weight", "1"},
		}
	} else {
		want = []value{
			{ctr, "cpu", "cpu.shares", "256"},
			{ctr, "cpu", "cpu.cfs_quota_us", "50000"},
			{ctr, "cpu", "cpu.cfs_period_us", "100000"},
			{ctr, "memory", "memory.limit_in_bytes", "134217728"},
			{pause, "cpu", "cpu.shares", "2"},
		}
	}
	for _, v := range want {
		if got := read(v.leaf, v.controller, v.file); got != v.want {
			t.Errorf("%s of %s = %q, want %q", v.file, v.leaf.Path(), got, v.want)
		}
	}

	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	for _, leaf := range []cgroup.Leaf{ctr, pause} {
		if leaf.Exists() {
			t.Errorf("cgroup %s left after the sandbox was removed", leaf.Path())
		}
	}
	parent := filepath.Join("/sys/fs/cgroup", cfg.Linux.CgroupParent)
	if !v2 {
		parent = filepath.Join("/sys/fs/cgroup", "cpu", cfg.Linux.CgroupParent)
	}
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("cgroup %s left under the sandbox's parent", filepath.Join(parent, e.Name()))
		}
	}
}
