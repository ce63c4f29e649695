package cri

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/cgroups"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/testutil"
)

// TestSystemdCgroups runs a sandbox and a container below a pod slice, as
// the kubelet's systemd driver asks for: the pause and the container each
// get a transient scope unit peapod-<id>.scope in the slice, made by runc
// through systemd, with the container's limits; removal stops the scopes
// and the start-up sweep finds leftover ones. It needs systemd as init,
// which the cgroup v2 VM runs (PEAPOD_TEST_SYSTEMD=1 there makes its
// absence a failure); elsewhere it is skipped.
func TestSystemdCgroups(t *testing.T) {
	driver, err := cgroup.NewDriver(cgroup.DriverSystemd)
	if err != nil {
		if os.Getenv("PEAPOD_TEST_SYSTEMD") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	e := newRuntimeEnv(t)
	ctx := context.Background()
	tag := fmt.Sprintf("peapodcri%d", os.Getpid())
	pod := cgroup.Name{tag, "poduid"}
	if err := driver.Create(pod, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := driver.Destroy(cgroup.Name{tag}); err != nil {
			t.Error(err)
		}
	})
	svc := e.start(t, ctx)
	events, unsubscribe := svc.Subscribe()
	defer unsubscribe()
	cfg := sandboxConfig(e)
	cfg.Linux.CgroupParent = driver.RuntimeParent(pod)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	slice := driver.Path(pod)
	pauseScope := filepath.Join(slice, "peapod-"+sb.PodSandboxId+".scope")
	ccfg := containerConfig("app", "sh", "-c", "cat /proc/self/cgroup; echo done; sleep 600")
	ccfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20, CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000}}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg, Config: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	scope := filepath.Join(slice, "peapod-"+c.ContainerId+".scope")
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, "the condition", 30*time.Second, func() bool {
		data, _ := os.ReadFile(st.Status.LogPath)
		return strings.Contains(string(data), "stdout F done")
	})
	if data, _ := os.ReadFile(st.Status.LogPath); !strings.Contains(string(data), scope) {
		t.Errorf("the container is not in %s:\n%s", scope, data)
	}
	for _, p := range []string{pauseScope, scope} {
		if !cgroup.Exists(p) {
			t.Errorf("no cgroup %s", p)
		}
	}
	memFile, memWant := "memory.limit_in_bytes", "67108864"
	if cgroups.IsCgroup2UnifiedMode() {
		memFile = "memory.max"
	}
	if got := readCgroupFile(t, scope, "memory", memFile); got != memWant {
		t.Errorf("%s of the container's scope: %s, want %s", memFile, got, memWant)
	}
	isID := func(s string) bool { return s == c.ContainerId || s == sb.PodSandboxId }
	if got := cgroup.FindLeaves(driver.Path(cgroup.Name{tag}), isID); len(got) != 2 {
		t.Errorf("leaves found: %v, want the pause's and the container's", got)
	}
	if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	waitExit(t, events, c.ContainerId)
	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{pauseScope, scope} {
		if cgroup.Exists(p) {
			t.Errorf("cgroup %s left after removal", p)
		}
	}
	if got := cgroup.FindLeaves(driver.Path(cgroup.Name{tag}), isID); len(got) != 0 {
		t.Errorf("leaves found after removal: %v", got)
	}
}

// readCgroupFile reads a file of the cgroup at p: on v2 from the unified
// tree, on v1 from the controller's hierarchy.
func readCgroupFile(t *testing.T, p, v1ctrl, file string) string {
	t.Helper()
	full := filepath.Join("/sys/fs/cgroup", v1ctrl, p, file)
	if cgroups.IsCgroup2UnifiedMode() {
		full = filepath.Join("/sys/fs/cgroup", p, file)
	}
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// waitFor polls cond for up to 30 s.
