package cri

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/conmon"
	"github.com/peapod/peapod/internal/runtime/image"
	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/testimage"
	"github.com/peapod/peapod/internal/testutil"
)

// runtimeEnv is a Service on real runc, conmon, CNI and overlayfs, with
// its own directories, bridge and cgroup parent.
type runtimeEnv struct {
	dir, cgroup, bridge string
	cfg                 Config
}

func newRuntimeEnv(t testing.TB) *runtimeEnv {
	t.Helper()
	testutil.RequireRoot(t)
	ctx := context.Background()
	e := &runtimeEnv{dir: t.TempDir(), cgroup: fmt.Sprintf("/peapod-cri-test-%d", os.Getpid()), bridge: fmt.Sprintf("ppcri%d", os.Getpid()%100000)}
	// PEAPOD_TEST_LOG=1 shows the runtime's debug log on stderr.
	var logTo io.Writer = io.Discard
	if os.Getenv("PEAPOD_TEST_LOG") != "" {
		logTo = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	busybox, err := testimage.FetchBusybox(ctx, testimage.DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := testimage.BusyboxImage(&tarball, busybox, "docker.io/library/busybox:latest", nil); err != nil {
		t.Fatal(err)
	}
	images, err := image.NewStore(filepath.Join(e.dir, "images"), image.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := images.Import(ctx, &tarball); err != nil {
		t.Fatal(err)
	}
	netw, err := network.New(network.Config{Name: "peapod-cri-test", Bridge: e.bridge, Subnet: "10.252.9.0/24",
		PluginDirs: []string{"/usr/lib/cni", "/opt/cni/bin"}, ConfDir: filepath.Join(e.dir, "cni"), StateDir: filepath.Join(e.dir, "cni-state")})
	if err != nil {
		t.Fatal(err)
	}
	// PEAPOD_TEST_OCI_RUNTIME=crun runs these tests on crun (crun 1.8
	// refuses the hybrid cgroup v1 layout, so hack/test-cgroup2.sh does so
	// in the cgroup v2 VM).
	runtimeName := "runc"
	if v := os.Getenv("PEAPOD_TEST_OCI_RUNTIME"); v != "" {
		runtimeName = v
	}
	runc, err := exec.LookPath(runtimeName)
	if err != nil {
		t.Fatal(err)
	}
	conmonBin, err := exec.LookPath("conmon")
	if err != nil {
		t.Fatal(err)
	}
	pause, err := exec.LookPath("catatonit")
	if err != nil {
		t.Fatal(err)
	}
	rt := &oci.Runtime{Binary: runc, Root: filepath.Join(e.dir, "run/runtime")}
	e.cfg = Config{
		StateDir: filepath.Join(e.dir, "state"), RunDir: filepath.Join(e.dir, "run"), Pause: pause, PauseArgs: []string{"-P"},
		Runtime: rt, Network: netw, Images: images, Log: log, Privileges: oci.DetectPrivileges(),
		Conmon: &conmon.Monitor{Binary: conmonBin, Runtime: runc, RuntimeRoot: rt.Root,
			ExitDir: filepath.Join(e.dir, "run/exits"), SocketDir: filepath.Join(e.dir, "run/conmon")},
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", e.bridge).Run()
		network.RemoveMasquerade("peapod-cri-test", "10.252.9.0/24")
		testutil.RemoveCgroupTree(e.cgroup)
	})
	return e
}

func (e *runtimeEnv) start(t testing.TB, ctx context.Context) *Service {
	t.Helper()
	svc, err := New(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func sandboxConfig(e *runtimeEnv) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "uid-1"},
		Hostname:     "web",
		LogDirectory: filepath.Join(e.dir, "logs"),
		DnsConfig:    &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}, Searches: []string{"example.test"}, Options: []string{"ndots:2"}},
		Labels:       map[string]string{"io.kubernetes.pod.uid": "uid-1"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: e.cgroup + "/poduid-1",
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{}}},
	}
}

func containerConfig(name string, cmd ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: "busybox"},
		Command:  cmd,
		LogPath:  name + "/0.log",
		Labels:   map[string]string{"io.kubernetes.container.name": name},
	}
}

// hostNetworkSandbox runs a sandbox in the node's network namespace (no
// CNI, so it also runs in the cgroup v2 VM), removed when the test ends.
func hostNetworkSandbox(t testing.TB, ctx context.Context, svc *Service, e *runtimeEnv) (string, *runtimeapi.PodSandboxConfig) {
	t.Helper()
	cfg := sandboxConfig(e)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}) })
	return sb.PodSandboxId, cfg
}

// waitExit waits for the container's stop event.
func waitExit(t *testing.T, events <-chan *runtimeapi.ContainerEventResponse, id string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.ContainerId == id && ev.ContainerEventType == runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT {
				return
			}
		case <-timeout:
			t.Fatalf("no stop event for %s", id)
		}
	}
}

func TestSandboxAndContainerLifecycle(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	events, unsubscribe := svc.Subscribe()
	defer unsubscribe()

	sbResp, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxConfig(e)})
	if err != nil {
		t.Fatal(err)
	}
	sbID := sbResp.PodSandboxId
	st, err := svc.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sbID})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY || !strings.HasPrefix(st.Status.Network.GetIp(), "10.252.9.") {
		t.Fatalf("sandbox status %+v %v", st, err)
	}
	sbCfg := sandboxConfig(e)
	// The pod's network counters are its metrics (eth0, not lo).
	pm, err := svc.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var netMetrics []string
	for _, p := range pm.PodMetrics {
		for _, m := range p.Metrics {
			if p.PodSandboxId == sbID && len(m.LabelValues) == 6 {
				netMetrics = append(netMetrics, m.Name+"/"+m.LabelValues[5])
			}
		}
	}
	if !slices.Contains(netMetrics, "container_network_receive_bytes_total/eth0") || len(netMetrics) != 8 {
		t.Errorf("pod network metrics %v: want eth0's eight counters", netMetrics)
	}

	// A container that prints and exits 3.
	c1, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
		Config: containerConfig("once", "sh", "-c", "echo hello; hostname; cat /etc/resolv.conf; exit 3")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c1.ContainerId}); err != nil {
		t.Fatal(err)
	}
	waitExit(t, events, c1.ContainerId)
	cs, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c1.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	if s := cs.Status; s.State != runtimeapi.ContainerState_CONTAINER_EXITED || s.ExitCode != 3 || s.Reason != "Error" ||
		s.StartedAt == 0 || s.FinishedAt < s.StartedAt || !strings.HasPrefix(s.ImageRef, "docker.io/library/busybox@sha256:") {
		t.Errorf("exited container status %+v", s)
	}
	logData, err := os.ReadFile(cs.Status.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" stdout F hello\n", " stdout F web\n", "stdout F search example.test\n", "stdout F nameserver 10.0.0.10\n", "stdout F options ndots:2\n"} {
		if !bytes.Contains(logData, []byte(want)) {
			t.Errorf("log lacks %q:\n%s", want, logData)
		}
	}

	// A command that does not exist fails at create and leaves nothing.
	before, _ := os.ReadDir(filepath.Join(e.dir, "state/containers"))
	if _, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
		Config: containerConfig("bad", "/no/such/binary")}); err == nil || !strings.Contains(err.Error(), "no/such/binary") {
		t.Errorf("bad command: %v", err)
	}
	after, _ := os.ReadDir(filepath.Join(e.dir, "state/containers"))
	if len(after) != len(before) {
		t.Errorf("failed create left a container directory")
	}

	// A long-running container survives a runtime restart, then stops
	// with SIGKILL after the timeout (its shell ignores SIGTERM).
	c2, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
		Config: containerConfig("long", "sh", "-c", "trap '' TERM; while true; do sleep 1; done")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c2.ContainerId}); err != nil {
		t.Fatal(err)
	}
	unsubscribe()
	restartCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	svc = e.start(t, restartCtx)
	events, unsubscribe = svc.Subscribe()
	defer unsubscribe()
	cs, err = svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c2.ContainerId})
	if err != nil || cs.Status.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("after restart: %+v %v", cs, err)
	}
	if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c2.ContainerId, Timeout: 1}); err != nil {
		t.Fatal(err)
	}
	cs, _ = svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c2.ContainerId})
	if cs.Status.State != runtimeapi.ContainerState_CONTAINER_EXITED || cs.Status.ExitCode != 137 {
		t.Errorf("stopped container: %+v", cs.Status)
	}

	netns := filepath.Join(e.dir, "run/netns", sbID)
	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sbID}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sbID}); err != nil {
		t.Errorf("second remove: %v", err)
	}
	list, _ := svc.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	sbs, _ := svc.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if len(list.Containers) != 0 || len(sbs.Items) != 0 {
		t.Errorf("left %d containers, %d sandboxes", len(list.Containers), len(sbs.Items))
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), e.dir) {
		t.Errorf("mounts left under %s", e.dir)
	}
	if _, err := os.Stat(netns); err == nil {
		t.Errorf("netns left")
	}
	for _, d := range []string{"state/sandboxes", "state/containers", "run/sandboxes", "run/containers"} {
		if entries, _ := os.ReadDir(filepath.Join(e.dir, d)); len(entries) != 0 {
			t.Errorf("%s not empty: %v", d, entries)
		}
	}
	if out, _ := exec.Command("runc", "--root", e.cfg.Runtime.Root, "list", "-q").Output(); strings.TrimSpace(string(out)) != "" {
		t.Errorf("runc still knows: %s", out)
	}
}

// TestHostNetworkSandbox runs a sandbox in the host's network namespace, so
// it needs no CNI: this is the runtime test that also runs in the pure
// cgroup v2 VM (see hack/test-cgroup2.sh). The container must land in a
// cgroup below the sandbox's cgroup parent.
func TestHostNetworkSandbox(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	events, unsubscribe := svc.Subscribe()
	defer unsubscribe()
	cfg := sandboxConfig(e)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg,
		Config: containerConfig("probe", "sh", "-c", "cat /proc/self/cgroup; echo done")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	waitExit(t, events, c.ContainerId)
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil || st.Status.ExitCode != 0 || st.Status.Reason != "Completed" {
		t.Fatalf("status %+v %v", st, err)
	}
	logData, _ := os.ReadFile(st.Status.LogPath)
	if !bytes.Contains(logData, []byte("stdout F done")) || !bytes.Contains(logData, []byte(cfg.Linux.CgroupParent+"/"+c.ContainerId)) {
		t.Errorf("container not in its cgroup below %s:\n%s", cfg.Linux.CgroupParent, logData)
	}
	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"state/sandboxes", "state/containers"} {
		if entries, _ := os.ReadDir(filepath.Join(e.dir, d)); len(entries) != 0 {
			t.Errorf("%s not empty", d)
		}
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); bytes.Contains(mounts, []byte(e.dir)) {
		t.Errorf("mounts left under %s", e.dir)
	}
}

// TestOOMKilled runs a container over its memory limit: the kernel kills
// it and the runtime reports OOMKilled with exit code 137, from the
// cgroup's OOM events (conmon watches memory.oom_control on v1 and
// memory.events on v2), not from the exit code. It also runs in the cgroup
// v2 VM.
func TestOOMKilled(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx := context.Background()
	svc := e.start(t, ctx)
	events, unsubscribe := svc.Subscribe()
	defer unsubscribe()
	sbID, cfg := hostNetworkSandbox(t, ctx, svc, e)
	ccfg := containerConfig("hog", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	ccfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 16 << 20}}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: cfg, Config: ccfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	waitExit(t, events, c.ContainerId)
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Reason != "OOMKilled" || st.Status.ExitCode != 137 {
		t.Errorf("the hog ended %s with %d, want OOMKilled 137", st.Status.Reason, st.Status.ExitCode)
	}
}
