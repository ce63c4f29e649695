package cri

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestVerboseContainerStatus: a verbose ContainerStatus (crictl inspect)
// names the container's sandbox, process and handler, and its
// oom_score_adj as asked for and as applied; the process runs with the
// applied one, which is the asked one wherever the host permits it.
func TestVerboseContainerStatus(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	sbID, cfg := hostNetworkSandbox(t, ctx, svc, e)
	ccfg := containerConfig("app", "sleep", "3600")
	ccfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{OomScoreAdj: -997}}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: cfg, Config: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId, Verbose: true})
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SandboxID   string `json:"sandboxID"`
		PID         int    `json:"pid"`
		OOMScoreAdj struct {
			Intended, Applied int
		} `json:"oomScoreAdj"`
	}
	if err := json.Unmarshal([]byte(st.Info["info"]), &info); err != nil {
		t.Fatalf("info %q: %v", st.Info["info"], err)
	}
	applied := e.cfg.Privileges.ClampOOMScoreAdj(-997)
	if info.SandboxID != sbID || info.PID <= 0 || info.OOMScoreAdj.Intended != -997 || info.OOMScoreAdj.Applied != applied {
		t.Errorf("info %+v, want sandbox %s, a pid, oom_score_adj -997 intended and %d applied", info, sbID, applied)
	}
	adj, err := os.ReadFile("/proc/" + strconv.Itoa(info.PID) + "/oom_score_adj")
	if err != nil || strings.TrimSpace(string(adj)) != strconv.Itoa(applied) {
		t.Errorf("the process runs with oom_score_adj %q (%v), want %d", adj, err, applied)
	}
	if plain, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId}); err != nil || plain.Info != nil {
		t.Errorf("a plain status carries info %v (%v)", plain.GetInfo(), err)
	}
}
