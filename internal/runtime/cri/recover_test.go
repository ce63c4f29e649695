package cri

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/failpoint"
)

// TestRecoveryAfterCrash crashes the runtime at every creation and removal
// step (a failpoint blocks the verb for ever, as if the process had died
// there, so no rollback runs), starts a new runtime on the same
// directories and checks that, once what it still lists is removed, the
// node holds nothing of the pod.
func TestRecoveryAfterCrash(t *testing.T) {
	e := newRuntimeEnv(t)
	points := []string{
		"sandbox-netns", "sandbox-network", "sandbox-files", "sandbox-pause", "sandbox-ready", "sandbox-created",
		"container-rootfs", "container-runtime", "container-ready", "container-created",
		"container-start", "container-started", "sandbox-remove",
	}
	for _, point := range points {
		t.Run(point, func(t *testing.T) {
			crashed := make(chan struct{})
			fp, err := failpoint.New(point, func() { close(crashed); select {} })
			if err != nil {
				t.Fatal(err)
			}
			e.cfg.Failpoints = fp
			ctx, cancel := context.WithCancel(context.Background())
			svc := e.start(t, ctx)
			e.cfg.Failpoints = nil
			done := make(chan error, 1)
			go func() { done <- podFlow(ctx, e, svc) }()
			select {
			case <-crashed:
			case err := <-done:
				cancel()
				t.Fatalf("the flow ended without reaching failpoint %s: %v", point, err)
			case <-time.After(60 * time.Second):
				t.Fatalf("failpoint %s not reached", point)
			}
			cancel()
			waitNoCNI(t, e)
			after := e.start(t, context.Background())
			removeAll(t, after)
			if leaks := e.leaks(); len(leaks) > 0 {
				t.Errorf("after a crash at %s and recovery, the node still holds:\n%s", point, strings.Join(leaks, "\n"))
			}
		})
	}
}

// TestSweepWithoutRecords crashes half way through a pod, throws the
// records away (a power cut, or state from another peapod) and checks that
// the start-up sweep alone removes everything.
func TestSweepWithoutRecords(t *testing.T) {
	e := newRuntimeEnv(t)
	crashed := make(chan struct{})
	fp, err := failpoint.New("container-started", func() { close(crashed); select {} })
	if err != nil {
		t.Fatal(err)
	}
	e.cfg.Failpoints = fp
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	svc := e.start(t, ctx)
	e.cfg.Failpoints = nil
	go podFlow(ctx, e, svc)
	select {
	case <-crashed:
	case <-time.After(60 * time.Second):
		t.Fatal("failpoint not reached")
	}
	cancel()
	for _, d := range []string{"state/sandboxes", "state/containers"} {
		entries, _ := os.ReadDir(filepath.Join(e.dir, d))
		for _, en := range entries {
			os.Remove(filepath.Join(e.dir, d, en.Name(), recordFile))
		}
	}
	e.start(t, context.Background())
	if leaks := e.leaks(); len(leaks) > 0 {
		t.Errorf("the sweep left:\n%s", strings.Join(leaks, "\n"))
	}
}

// podFlow creates a sandbox with a hostPort and a running container, then
// removes them, as the kubelet would.
func podFlow(ctx context.Context, e *runtimeEnv, svc *Service) error {
	cfg := sandboxConfig(e)
	cfg.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: 38080}}
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		return err
	}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg,
		Config: containerConfig("app", "sleep", "3600")})
	if err != nil {
		return err
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return err
	}
	_, err = svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId})
	return err
}

// removeAll removes every sandbox and container svc lists.
func removeAll(t *testing.T, svc *Service) {
	t.Helper()
	ctx := context.Background()
	sbs, err := svc.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sb := range sbs.Items {
		if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
			t.Errorf("removing sandbox: %v", err)
		}
	}
	cs, _ := svc.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	for _, c := range cs.Containers {
		if _, err := svc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id}); err != nil {
			t.Errorf("removing container: %v", err)
		}
	}
}

// waitNoCNI waits for CNI plugins still working on the env's namespaces:
// in process, the crashed runtime's network goroutine lives on (a real
// crash leaves its plugin processes running too, which recovery kills).
func waitNoCNI(t *testing.T, e *runtimeEnv) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		busy := false
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			if env, err := os.ReadFile(p + "/environ"); err == nil && strings.Contains(string(env), "CNI_NETNS="+e.dir) {
				busy = true
			}
		}
		if !busy {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// leaks lists what of a sandbox or container is left on the node.
func (e *runtimeEnv) leaks() []string {
	var out []string
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, e.dir) {
			out = append(out, "mount: "+line)
		}
	}
	for _, d := range []string{"state/sandboxes", "state/containers", "run/sandboxes", "run/containers", "run/netns",
		"run/runtime", "run/exits", "run/conmon", "cni-state/cache/results"} {
		entries, _ := os.ReadDir(filepath.Join(e.dir, d))
		for _, en := range entries {
			out = append(out, d+"/"+en.Name())
		}
	}
	reservations, _ := os.ReadDir(filepath.Join(e.dir, "cni-state/networks/peapod-cri-test"))
	for _, en := range reservations {
		if n := en.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip.") {
			out = append(out, "IP reservation "+n)
		}
	}
	for _, cg := range cgroup.Find(e.cgroup, isID) {
		out = append(out, "cgroup "+cg)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if cmdline, err := os.ReadFile(p + "/cmdline"); err == nil && strings.Contains(string(cmdline), e.dir) {
			out = append(out, "process "+filepath.Base(p)+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	if links, _ := exec.Command("ip", "-o", "link", "show", "master", e.bridge).Output(); strings.TrimSpace(string(links)) != "" {
		out = append(out, "veths: "+string(links))
	}
	if rules, _ := exec.Command("iptables-save", "-t", "nat").Output(); strings.Contains(string(rules), `name: \"peapod-cri-test\" id:`) {
		out = append(out, "portmap rules of peapod-cri-test")
	}
	return out
}
