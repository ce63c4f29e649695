package cri

import (
	"bytes"
	"context"
	"errors"
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

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/opencontainers/cgroups"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/criserver"
	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/testimage"
)

// TestGRPCEdge drives the real runtime through its CRI socket, as a
// kubelet or crictl does: missing IDs are stopped and removed without
// error, asked about with NotFound, bad requests get InvalidArgument, and
// the event stream carries a container's life.
func TestGRPCEdge(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // after the sandbox's removal, which needs ctx
	svc := e.start(t, ctx)
	sock := filepath.Join(e.dir, "cri.sock")
	if _, err := criserver.Serve(ctx, sock, svc, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	img := runtimeapi.NewImageServiceClient(conn)

	const missing = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	idempotent := []struct {
		name string
		call func() error
	}{
		{"StopContainer", func() error {
			_, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: missing})
			return err
		}},
		{"RemoveContainer", func() error {
			_, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: missing})
			return err
		}},
		{"StopPodSandbox", func() error {
			_, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: missing})
			return err
		}},
		{"RemovePodSandbox", func() error {
			_, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: missing})
			return err
		}},
		{"RemoveImage", func() error {
			_, err := img.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: "example.test/none:1"}})
			return err
		}},
	}
	for _, tt := range idempotent {
		if err := tt.call(); err != nil {
			t.Errorf("%s of a missing ID: %v, want OK", tt.name, err)
		}
	}

	coded := []struct {
		name string
		code codes.Code
		call func() error
	}{
		{"ContainerStatus of a missing ID", codes.NotFound, func() error {
			_, err := rt.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: missing})
			return err
		}},
		{"PodSandboxStatus of a missing ID", codes.NotFound, func() error {
			_, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: missing})
			return err
		}},
		{"StartContainer of a missing ID", codes.NotFound, func() error {
			_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: missing})
			return err
		}},
		{"ExecSync in a missing container", codes.NotFound, func() error {
			_, err := rt.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: missing, Cmd: []string{"true"}})
			return err
		}},
		{"PullImage of a malformed reference", codes.InvalidArgument, func() error {
			_, err := img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: "Not A Reference"}})
			return err
		}},
		{"CheckpointContainer", codes.Unimplemented, func() error {
			_, err := rt.CheckpointContainer(ctx, &runtimeapi.CheckpointContainerRequest{ContainerId: missing})
			return err
		}},
		{"ListMetricDescriptors", codes.OK, func() error {
			_, err := rt.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
			return err
		}},
		{"ListPodSandboxMetrics", codes.OK, func() error {
			_, err := rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
			return err
		}},
		{"UpdatePodSandboxResources of a missing ID", codes.NotFound, func() error {
			_, err := rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: missing})
			return err
		}},
	}
	for _, tt := range coded {
		if err := tt.call(); status.Code(err) != tt.code {
			t.Errorf("%s: %v, want code %v", tt.name, err, tt.code)
		}
	}

	cfgResp, err := rt.RuntimeConfig(ctx, &runtimeapi.RuntimeConfigRequest{})
	if err != nil || cfgResp.GetLinux().GetCgroupDriver() != runtimeapi.CgroupDriver_CGROUPFS {
		t.Errorf("RuntimeConfig = %v, %v; want the cgroupfs driver", cfgResp, err)
	}
	// The kubelet sends the node's pod CIDR once it has one, and retries
	// on every node status update until the call succeeds.
	if _, err := rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{RuntimeConfig: &runtimeapi.RuntimeConfig{
		NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: "10.99.0.0/16"}}}); err != nil {
		t.Errorf("UpdateRuntimeConfig: %v", err)
	}

	// The event stream sees a container created, started and stopped.
	events, err := rt.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
		Config: containerConfig("once", "true")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	want := []runtimeapi.ContainerEventType{runtimeapi.ContainerEventType_CONTAINER_CREATED_EVENT,
		runtimeapi.ContainerEventType_CONTAINER_STARTED_EVENT, runtimeapi.ContainerEventType_CONTAINER_STOPPED_EVENT}
	got := make(chan runtimeapi.ContainerEventType, 16)
	go func() {
		for {
			ev, err := events.Recv()
			if err != nil {
				close(got)
				return
			}
			if ev.ContainerId == c.ContainerId {
				got <- ev.ContainerEventType
			}
		}
	}()
	for _, w := range want {
		select {
		case typ, ok := <-got:
			if !ok || typ != w {
				t.Fatalf("event %v (stream open %v), want %v", typ, ok, w)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %v event", w)
		}
	}
	// A resized pod's resources are taken (the kubelet writes the pod
	// cgroup itself).
	if _, err := rt.UpdatePodSandboxResources(ctx, &runtimeapi.UpdatePodSandboxResourcesRequest{PodSandboxId: sbID,
		Resources: &runtimeapi.LinuxContainerResources{CpuShares: 512}}); err != nil {
		t.Errorf("UpdatePodSandboxResources: %v", err)
	}
	checkStreamedLists(t, ctx, rt, img)

	// Names are reserved as containerd reserves them: a second sandbox
	// with the same metadata, or container with the same name and
	// attempt in the sandbox, is AlreadyExists while the first exists.
	reserved := []struct {
		name string
		call func() error
	}{
		{"RunPodSandbox with a live sandbox's metadata", func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
			return err
		}},
		{"CreateContainer with a live container's name and attempt", func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: containerConfig("once", "true")})
			return err
		}},
	}
	for _, tt := range reserved {
		err := tt.call()
		if status.Code(err) != codes.AlreadyExists || !strings.Contains(status.Convert(err).Message(), "is reserved for") {
			t.Errorf("%s: %v, want AlreadyExists (name is reserved)", tt.name, err)
		}
	}
	// Bad requests are InvalidArgument, a container in a sandbox that is
	// not ready FailedPrecondition.
	stoppedCfg := sandboxConfig(e)
	stoppedCfg.Metadata.Attempt = 1
	stoppedCfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	stopped, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: stoppedCfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: stopped.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		code codes.Code
		call func() error
	}{
		{"RunPodSandbox without metadata", codes.InvalidArgument, func() error {
			_, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: &runtimeapi.PodSandboxConfig{}})
			return err
		}},
		{"CreateContainer without a name", codes.InvalidArgument, func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: containerConfig("", "true")})
			return err
		}},
		{"CreateContainer in a stopped sandbox", codes.FailedPrecondition, func() error {
			_, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: stopped.PodSandboxId, SandboxConfig: stoppedCfg, Config: containerConfig("late", "true")})
			return err
		}},
		{"StartContainer of a started container", codes.FailedPrecondition, func() error {
			_, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId})
			return err
		}},
	}
	for _, tt := range bad {
		if err := tt.call(); status.Code(err) != tt.code {
			t.Errorf("%s: %v, want code %v", tt.name, err, tt.code)
		}
	}
	// A removed sandbox's name is free again.
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: stopped.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	again, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: stoppedCfg})
	if err != nil {
		t.Fatalf("RunPodSandbox with a removed sandbox's metadata: %v", err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: again.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	// Stopping and removing twice is as good as once.
	for range 2 {
		if _, err := rt.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
			t.Fatal(err)
		}
	}
	// ... and so is a removed container's.
	again2, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: containerConfig("once", "true")})
	if err != nil {
		t.Fatalf("CreateContainer with a removed container's name: %v", err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: again2.ContainerId}); err != nil {
		t.Fatal(err)
	}
	// A create that fails releases the name it reserved.
	absent := containerConfig("rollback", "true")
	absent.Image = &runtimeapi.ImageSpec{Image: "example.test/absent:1"}
	if _, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: absent}); status.Code(err) != codes.NotFound {
		t.Errorf("CreateContainer of an absent image: %v, want NotFound", err)
	}
	rolledBack, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: containerConfig("rollback", "true")})
	if err != nil {
		t.Fatalf("CreateContainer with a failed create's name: %v", err)
	}
	if _, err := rt.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: rolledBack.ContainerId}); err != nil {
		t.Fatal(err)
	}
}

// TestStats reads a running container's use from its cgroup, alone and
// through its sandbox, and filters by label.
func TestStats(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc := e.start(t, ctx)
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	cfg := containerConfig("busy", "sh", "-c", "x=0; while [ $x -lt 20000 ]; do x=$((x+1)); done; sleep 60")
	cfg.Labels["tier"] = "web"
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	st, err := svc.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: c.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	s := st.Stats
	if s.Attributes.Id != c.ContainerId || s.Attributes.Metadata.Name != "busy" {
		t.Fatalf("attributes %v", s.Attributes)
	}
	if s.Cpu.Timestamp == 0 || s.Cpu.UsageCoreNanoSeconds.GetValue() == 0 {
		t.Errorf("cpu %v: want a timestamp and some use", s.Cpu)
	}
	if s.Memory.UsageBytes.GetValue() == 0 || s.Memory.WorkingSetBytes.GetValue() > s.Memory.UsageBytes.GetValue() {
		t.Errorf("memory %v: want some use, the working set no more than it", s.Memory)
	}
	if s.WritableLayer.GetFsId().GetMountpoint() == "" {
		t.Errorf("writable layer %v: no file system", s.WritableLayer)
	}
	for _, tt := range []struct {
		filter *runtimeapi.ContainerStatsFilter
		want   int
	}{
		{nil, 1},
		{&runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"tier": "web"}}, 1},
		{&runtimeapi.ContainerStatsFilter{LabelSelector: map[string]string{"tier": "db"}}, 0},
		{&runtimeapi.ContainerStatsFilter{PodSandboxId: sbID}, 1},
		{&runtimeapi.ContainerStatsFilter{Id: "other"}, 0},
	} {
		l, err := svc.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{Filter: tt.filter})
		if err != nil || len(l.Stats) != tt.want {
			t.Errorf("ListContainerStats(%v) = %d stats, %v; want %d", tt.filter, len(l.GetStats()), err, tt.want)
		}
	}
	ps, err := svc.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: sbID})
	if err != nil {
		t.Fatal(err)
	}
	linux := ps.Stats.Linux
	if ps.Stats.Attributes.Id != sbID || len(linux.Containers) != 1 || linux.Memory.UsageBytes.GetValue() < s.Memory.UsageBytes.GetValue()/2 ||
		linux.Process.ProcessCount.GetValue() < 2 {
		t.Errorf("sandbox stats %v: want its one container, its memory and the pause and container processes", ps.Stats)
	}
	if _, err := svc.PodSandboxStats(ctx, &runtimeapi.PodSandboxStatsRequest{PodSandboxId: "nope"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("PodSandboxStats of a missing sandbox: %v", err)
	}

	// The same numbers as CRI metrics: each described, with as many
	// label values as its descriptor has keys.
	descs, err := svc.ListMetricDescriptors(ctx, &runtimeapi.ListMetricDescriptorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]int{}
	for _, d := range descs.Descriptors {
		keys[d.Name] = len(d.LabelKeys)
	}
	pm, err := svc.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var cm *runtimeapi.ContainerMetrics
	for _, p := range pm.PodMetrics {
		if p.PodSandboxId == sbID && len(p.ContainerMetrics) == 1 {
			cm = p.ContainerMetrics[0]
		}
	}
	if cm == nil || cm.ContainerId != c.ContainerId {
		t.Fatalf("sandbox metrics %v: want the sandbox with its one container", pm.PodMetrics)
	}
	got := map[string]*runtimeapi.Metric{}
	for _, m := range cm.Metrics {
		n, ok := keys[m.Name]
		if !ok || len(m.LabelValues) != n || m.Timestamp == 0 {
			t.Errorf("metric %v: described %v with %d keys; want described, as many values, a timestamp", m, ok, n)
		}
		got[m.Name] = m
	}
	// As critest checks: every descriptor has help and keys, and a
	// metric, but for block I/O (none on some disks) and the network (the
	// pod's own, and this one is on the node's).
	for _, d := range descs.Descriptors {
		optional := strings.HasPrefix(d.Name, "container_network_") || d.Name == "container_blkio_device_usage_total" ||
			strings.HasPrefix(d.Name, "container_fs_reads") || strings.HasPrefix(d.Name, "container_fs_writes")
		if d.Help == "" || len(d.LabelKeys) == 0 || (got[d.Name] == nil && !optional) {
			t.Errorf("descriptor %v: want help, label keys and a metric", d)
		}
	}
	ws := got["container_memory_working_set_bytes"]
	if ws == nil || ws.MetricType != runtimeapi.MetricType_GAUGE || ws.Value.GetValue() == 0 ||
		strings.Join(ws.LabelValues, " ") != "web default busy "+c.ContainerId+" docker.io/library/busybox:latest" {
		t.Errorf("working set metric %v: want a gauge with use, labelled pod, namespace, container, ID and image", ws)
	}
	if cpu := got["container_cpu_usage_seconds_total"]; cpu == nil || cpu.MetricType != runtimeapi.MetricType_COUNTER {
		t.Errorf("cpu metric %v: want a counter", cpu)
	}
	for _, name := range []string{"container_processes", "container_threads", "container_file_descriptors", "container_memory_usage_bytes", "container_last_seen", "container_start_time_seconds"} {
		if m := got[name]; m == nil || m.Value.GetValue() == 0 {
			t.Errorf("%s metric %v: want a value", name, m)
		}
	}
}

func TestReadNetDev(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev")
	os.WriteFile(path, []byte(`Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       2    0    0    0     0          0         0      100       2    0    0    0     0       0          0
  eth0:    5000      40    1    2    0     0          0         0     3000      30    3    4    0     0       0          0
`), 0o644)
	devs, err := readNetDev(path)
	if err != nil || len(devs) != 2 {
		t.Fatalf("readNetDev = %v, %v", devs, err)
	}
	want := netDev{name: "eth0", rxBytes: 5000, rxPackets: 40, rxErrors: 1, rxDropped: 2, txBytes: 3000, txPackets: 30, txErrors: 3, txDropped: 4}
	if devs[1] != want {
		t.Errorf("eth0 = %+v, want %+v", devs[1], want)
	}
}

// TestRuntimeHandlers runs a sandbox and its container with a named
// handler (here a second runc with its own state root, since crun 1.8
// refuses this host's hybrid cgroups), and refuses an unknown one.
func TestRuntimeHandlers(t *testing.T) {
	e := newRuntimeEnv(t)
	// The alt handler is a second runc, or, with PEAPOD_TEST_ALT_RUNTIME
	// (crun in the cgroup v2 VM: hack/test-cgroup2.sh), another runtime
	// beside the default one.
	altBinary := e.cfg.Runtime.Binary
	if v := os.Getenv("PEAPOD_TEST_ALT_RUNTIME"); v != "" {
		var err error
		if altBinary, err = exec.LookPath(v); err != nil {
			t.Fatal(err)
		}
	}
	alt := &oci.Runtime{Binary: altBinary, Root: filepath.Join(e.dir, "run/runtime-alt")}
	e.cfg.Handlers = map[string]*oci.Runtime{"alt": alt}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc := e.start(t, ctx)

	st, err := svc.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil || len(st.RuntimeHandlers) != 2 || st.RuntimeHandlers[0].Name != "" || st.RuntimeHandlers[1].Name != "alt" {
		t.Fatalf("Status handlers = %v, %v; want the default and alt", st.GetRuntimeHandlers(), err)
	}
	cfg := sandboxConfig(e)
	cfg.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
	if _, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "nope"}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Fatalf("unknown handler: %v, want InvalidArgument", err)
	}
	sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg, RuntimeHandler: "alt"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}) })
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg,
		Config: containerConfig("app", "sleep", "60")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{sb.PodSandboxId, c.ContainerId} {
		if _, err := os.Stat(filepath.Join(alt.Root, id)); err != nil {
			t.Errorf("%s is not in the alt handler's state: %v", id, err)
		}
		if _, err := os.Stat(filepath.Join(e.cfg.Runtime.Root, id)); err == nil {
			t.Errorf("%s is in the default handler's state too", id)
		}
	}
	status, err := svc.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.PodSandboxId})
	if err != nil || status.Status.RuntimeHandler != "alt" {
		t.Fatalf("sandbox status handler %q, %v", status.GetStatus().GetRuntimeHandler(), err)
	}
	out, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"echo", "hi"}})
	if err != nil || string(out.Stdout) != "hi\n" {
		t.Fatalf("exec = %q, %v", out.GetStdout(), err)
	}
	// The alt runtime's own tool knows the container as running.
	if state, err := exec.Command(altBinary, "--root", alt.Root, "state", c.ContainerId).Output(); err != nil || !strings.Contains(string(state), `"running"`) {
		t.Errorf("%s state %s: %s, %v", altBinary, c.ContainerId, state, err)
	}
	if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(alt.Root); len(entries) != 0 {
		t.Errorf("alt handler state left after removal: %v", entries)
	}
}

// TestRecursiveReadOnlyMount: a read-only mount with recursiveReadOnly
// makes the mounts below the host path read-only in the container too;
// asked of a writable or propagating mount it is refused; and its
// read-only copy goes with the container.
func TestRecursiveReadOnlyMount(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc := e.start(t, ctx)
	if !svc.rro {
		t.Skip("kernel without mount_setattr")
	}
	host := t.TempDir()
	sub := filepath.Join(host, "tmpfs")
	os.Mkdir(sub, 0o755)
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	create := func(m *runtimeapi.Mount) (string, error) {
		cfg := containerConfig("rro", "sleep", "60")
		cfg.Mounts = []*runtimeapi.Mount{m}
		c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg})
		return c.GetContainerId(), err
	}
	for _, bad := range []*runtimeapi.Mount{
		{HostPath: host, ContainerPath: "/mnt", RecursiveReadOnly: true},
		{HostPath: host, ContainerPath: "/mnt", Readonly: true, RecursiveReadOnly: true, Propagation: runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER},
	} {
		if _, err := create(bad); !errors.Is(err, errdefs.ErrInvalidArgument) {
			t.Errorf("mount %v: %v, want InvalidArgument", bad, err)
		}
	}
	id, err := create(&runtimeapi.Mount{HostPath: host, ContainerPath: "/mnt", Readonly: true, RecursiveReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	// The node keeps no copy once the container runs: the host path's
	// submount can go while the container lives.
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), filepath.Join(svc.containerDir(id), rroDir)) {
		t.Error("the node keeps a read-only copy of the mount")
	}
	out, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: id, Cmd: []string{"touch", "/mnt/tmpfs/file"}})
	if err != nil || out.ExitCode == 0 || !strings.Contains(string(out.Stderr), "Read-only file system") {
		t.Errorf("touch below the mount: %v, exit %d, %q; want a read-only file system", err, out.GetExitCode(), out.GetStderr())
	}
	if _, err := svc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: id}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(svc.containerDir(id)); len(entries) != 0 {
		t.Errorf("the container's directory outlived it: %v", entries)
	}
	// The host's own mounts stay writable.
	if err := os.WriteFile(filepath.Join(sub, "file"), nil, 0o644); err != nil {
		t.Errorf("host tmpfs: %v", err)
	}
}

// TestUpdateContainerResources: a running container's memory and CPU
// limits change on its cgroup and in its status (what the kubelet's
// in-place resize reads back); an exited container cannot be updated, a
// missing one is NotFound.
func TestUpdateContainerResources(t *testing.T) {
	e := newRuntimeEnv(t)
	first, stopFirst := context.WithCancel(context.Background())
	t.Cleanup(stopFirst)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc := e.start(t, first)
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	cfg := containerConfig("app", "sleep", "60")
	cfg.Linux = &runtimeapi.LinuxContainerConfig{Resources: &runtimeapi.LinuxContainerResources{
		MemoryLimitInBytes: 64 << 20, CpuShares: 256, CpuQuota: 50000, CpuPeriod: 100000}}
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	rec, _ := svc.getContainer(c.ContainerId)
	path := cgroup.ParseLeaf(rec.Cgroup).Path()
	if path == "" {
		t.Fatal("the container has no cgroup")
	}
	read := func(v1, v2 string) string {
		file := filepath.Join("/sys/fs/cgroup", path, v2)
		if !cgroups.IsCgroup2UnifiedMode() {
			file = filepath.Join("/sys/fs/cgroup", v1, path, filepath.Base(v1+"/"+v2))
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	memory := func() string {
		if cgroups.IsCgroup2UnifiedMode() {
			return read("", "memory.max")
		}
		return read("memory", "memory.limit_in_bytes")
	}
	quota := func() string {
		if cgroups.IsCgroup2UnifiedMode() {
			return read("", "cpu.max")
		}
		return read("cpu", "cpu.cfs_quota_us")
	}
	if got := memory(); got != fmt.Sprint(64<<20) {
		t.Fatalf("memory limit before: %s", got)
	}
	newRes := &runtimeapi.LinuxContainerResources{MemoryLimitInBytes: 128 << 20, CpuShares: 512, CpuQuota: 100000, CpuPeriod: 100000}
	if _, err := svc.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.ContainerId, Linux: newRes}); err != nil {
		t.Fatal(err)
	}
	if got := memory(); got != fmt.Sprint(128<<20) {
		t.Errorf("memory limit after: %s", got)
	}
	if got, want := quota(), map[bool]string{true: "100000 100000", false: "100000"}[cgroups.IsCgroup2UnifiedMode()]; got != want {
		t.Errorf("cpu quota after: %s, want %s", got, want)
	}
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil {
		t.Fatal(err)
	}
	if r := st.Status.GetResources().GetLinux(); r.GetMemoryLimitInBytes() != 128<<20 || r.GetCpuShares() != 512 || r.GetCpuQuota() != 100000 {
		t.Errorf("status resources %v", r)
	}
	// The record keeps them across a restart of the runtime.
	stopFirst()
	svc2 := e.start(t, ctx)
	st, err = svc2.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.ContainerId})
	if err != nil || st.Status.GetResources().GetLinux().GetMemoryLimitInBytes() != 128<<20 {
		t.Errorf("after a restart: %v, %v", st.GetStatus().GetResources(), err)
	}
	// ... and the names of the sandbox and container stay reserved.
	if _, err := svc2.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("RunPodSandbox with a recovered sandbox's metadata: %v, want AlreadyExists", err)
	}
	if _, err := svc2.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg}); !errors.Is(err, errdefs.ErrAlreadyExists) {
		t.Errorf("CreateContainer with a recovered container's name: %v, want AlreadyExists", err)
	}
	if _, err := svc2.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: "nope", Linux: newRes}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("a missing container: %v", err)
	}
	if _, err := svc2.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc2.UpdateContainerResources(ctx, &runtimeapi.UpdateContainerResourcesRequest{ContainerId: c.ContainerId, Linux: newRes}); !errors.Is(err, errdefs.ErrFailedPrecondition) {
		t.Errorf("an exited container: %v", err)
	}
}

// TestImageVolume: a mount naming an image mounts that image's layers
// read-only (executable, not writable), or a sub path of it; a writable
// one, a missing sub path and an absent image are refused; the status
// reports the image's ID as the mount's image_ref; the layers stay while
// the container exists; and nothing stays mounted after it.
func TestImageVolume(t *testing.T) {
	e := newRuntimeEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	svc := e.start(t, ctx)
	// A second image with two layers: busybox, then /data/hello.
	hello := filepath.Join(t.TempDir(), "hello")
	os.WriteFile(hello, []byte("hello from the image\n"), 0o644)
	busybox, err := testimage.FetchBusybox(ctx, testimage.DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	var tarball bytes.Buffer
	if err := testimage.BusyboxImage(&tarball, busybox, "example.test/data:1", []testimage.File{{Path: "/data/hello", HostPath: hello}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cfg.Images.Import(ctx, &tarball); err != nil {
		t.Fatal(err)
	}
	img, err := e.cfg.Images.Get("example.test/data:1")
	if err != nil {
		t.Fatal(err)
	}
	sbID, sbCfg := hostNetworkSandbox(t, ctx, svc, e)
	create := func(mounts ...*runtimeapi.Mount) (string, error) {
		cfg := containerConfig("imagevolume", "sleep", "60")
		cfg.Mounts = mounts
		c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg, Config: cfg})
		return c.GetContainerId(), err
	}
	volume := func(sub string, readOnly bool) *runtimeapi.Mount {
		return &runtimeapi.Mount{ContainerPath: "/mnt/image", Readonly: readOnly, ImageSubPath: sub,
			Image: &runtimeapi.ImageSpec{Image: img.ID, UserSpecifiedImage: "example.test/data:1"}}
	}
	for _, tc := range []struct {
		name  string
		mount *runtimeapi.Mount
		want  error
	}{
		{"writable", volume("", false), errdefs.ErrInvalidArgument},
		{"missing sub path", volume("nonexistent", true), errdefs.ErrInvalidArgument},
		{"absent image", &runtimeapi.Mount{ContainerPath: "/mnt/image", Readonly: true, Image: &runtimeapi.ImageSpec{Image: "example.test/absent:1"}}, errdefs.ErrNotFound},
	} {
		if _, err := create(tc.mount); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	whole, err := create(volume("", true), &runtimeapi.Mount{ContainerPath: "/mnt/data", Readonly: true, ImageSubPath: "/data", Image: &runtimeapi.ImageSpec{Image: "example.test/data:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: whole}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd      []string
		exit     int32
		stdout   string
		stderrIn string
	}{
		{[]string{"cat", "/mnt/image/data/hello"}, 0, "hello from the image\n", ""},
		{[]string{"cat", "/mnt/data/hello"}, 0, "hello from the image\n", ""},
		{[]string{"/mnt/image/bin/echo", "exec"}, 0, "exec\n", ""},
		{[]string{"touch", "/mnt/image/new"}, 1, "", "Read-only file system"},
		{[]string{"ls", "/mnt/data/bin"}, 1, "", "No such file"},
	} {
		out, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: whole, Cmd: tc.cmd})
		if err != nil || out.ExitCode != tc.exit || string(out.Stdout) != tc.stdout || !strings.Contains(string(out.Stderr), tc.stderrIn) {
			t.Errorf("%v: exit %d, %q, %q, %v; want exit %d, %q, stderr with %q", tc.cmd, out.GetExitCode(), out.GetStdout(), out.GetStderr(), err, tc.exit, tc.stdout, tc.stderrIn)
		}
	}
	st, err := svc.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: whole})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range st.Status.Mounts {
		if m.GetImage().GetImageRef() != img.ID {
			t.Errorf("status mount %s: image_ref %q, want %q", m.ContainerPath, m.GetImage().GetImageRef(), img.ID)
		}
	}
	// The node keeps no view once the container exists, and the image's
	// layers stay while it does.
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), filepath.Join(svc.containerDir(whole), imageVolumeDir)) {
		t.Error("the node keeps an image volume view")
	}
	if _, err := svc.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: img.ID}}); err != nil {
		t.Fatal(err)
	}
	if out, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: whole, Cmd: []string{"cat", "/mnt/data/hello"}}); err != nil || out.ExitCode != 0 {
		t.Errorf("after the image's removal: exit %d, %q, %v", out.GetExitCode(), out.GetStderr(), err)
	}
	if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: whole}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: whole}); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(svc.containerDir(whole)); len(entries) != 0 {
		t.Errorf("the container's directory outlived it: %v", entries)
	}
}

// checkStreamedLists: each streamed list (cri-api v0.35+) holds what its
// List… counterpart holds.
func checkStreamedLists(t *testing.T, ctx context.Context, rt runtimeapi.RuntimeServiceClient, img runtimeapi.ImageServiceClient) {
	t.Helper()
	for _, p := range []struct {
		name         string
		list, stream func() ([]string, error)
	}{
		{"sandboxes", func() ([]string, error) {
			r, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
			return idsOf(r.GetItems(), (*runtimeapi.PodSandbox).GetId), err
		}, func() ([]string, error) {
			return drain(rt.StreamPodSandboxes(ctx, &runtimeapi.StreamPodSandboxesRequest{}))(
				func(r *runtimeapi.StreamPodSandboxesResponse) []string {
					return idsOf(r.PodSandboxes, (*runtimeapi.PodSandbox).GetId)
				})
		}},
		{"containers", func() ([]string, error) {
			r, err := rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
			return idsOf(r.GetContainers(), (*runtimeapi.Container).GetId), err
		}, func() ([]string, error) {
			return drain(rt.StreamContainers(ctx, &runtimeapi.StreamContainersRequest{}))(
				func(r *runtimeapi.StreamContainersResponse) []string {
					return idsOf(r.Containers, (*runtimeapi.Container).GetId)
				})
		}},
		{"images", func() ([]string, error) {
			r, err := img.ListImages(ctx, &runtimeapi.ListImagesRequest{})
			return idsOf(r.GetImages(), (*runtimeapi.Image).GetId), err
		}, func() ([]string, error) {
			return drain(img.StreamImages(ctx, &runtimeapi.StreamImagesRequest{}))(
				func(r *runtimeapi.StreamImagesResponse) []string { return idsOf(r.Images, (*runtimeapi.Image).GetId) })
		}},
		{"container stats", func() ([]string, error) {
			r, err := rt.ListContainerStats(ctx, &runtimeapi.ListContainerStatsRequest{})
			return idsOf(r.GetStats(), containerStatsID), err
		}, func() ([]string, error) {
			return drain(rt.StreamContainerStats(ctx, &runtimeapi.StreamContainerStatsRequest{}))(
				func(r *runtimeapi.StreamContainerStatsResponse) []string {
					return idsOf(r.ContainerStats, containerStatsID)
				})
		}},
		{"sandbox stats", func() ([]string, error) {
			r, err := rt.ListPodSandboxStats(ctx, &runtimeapi.ListPodSandboxStatsRequest{})
			return idsOf(r.GetStats(), sandboxStatsID), err
		}, func() ([]string, error) {
			return drain(rt.StreamPodSandboxStats(ctx, &runtimeapi.StreamPodSandboxStatsRequest{}))(
				func(r *runtimeapi.StreamPodSandboxStatsResponse) []string {
					return idsOf(r.PodSandboxStats, sandboxStatsID)
				})
		}},
		{"sandbox metrics", func() ([]string, error) {
			r, err := rt.ListPodSandboxMetrics(ctx, &runtimeapi.ListPodSandboxMetricsRequest{})
			return idsOf(r.GetPodMetrics(), (*runtimeapi.PodSandboxMetrics).GetPodSandboxId), err
		}, func() ([]string, error) {
			return drain(rt.StreamPodSandboxMetrics(ctx, &runtimeapi.StreamPodSandboxMetricsRequest{}))(
				func(r *runtimeapi.StreamPodSandboxMetricsResponse) []string {
					return idsOf(r.PodSandboxMetrics, (*runtimeapi.PodSandboxMetrics).GetPodSandboxId)
				})
		}},
	} {
		want, err := p.list()
		if err != nil {
			t.Errorf("list %s: %v", p.name, err)
			continue
		}
		got, err := p.stream()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("streamed %s: %v, %v; listed %v", p.name, got, err, want)
		}
		if len(want) == 0 && p.name != "sandbox metrics" {
			t.Errorf("no %s listed: the comparison proves nothing", p.name)
		}
	}
}

func containerStatsID(s *runtimeapi.ContainerStats) string { return s.GetAttributes().GetId() }
func sandboxStatsID(s *runtimeapi.PodSandboxStats) string  { return s.GetAttributes().GetId() }

// idsOf is the sorted IDs of items.
func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, x := range items {
		out[i] = id(x)
	}
	slices.Sort(out)
	return out
}

// drain reads a server stream to its end: given how to take the IDs out
// of a message, it returns all of them, sorted.
func drain[R any](s interface{ Recv() (*R, error) }, err error) func(ids func(*R) []string) ([]string, error) {
	return func(ids func(*R) []string) ([]string, error) {
		var out []string
		for err == nil {
			var r *R
			if r, err = s.Recv(); err == nil {
				out = append(out, ids(r)...)
			}
		}
		slices.Sort(out)
		return out, eof(err)
	}
}

// eof turns the end of a stream into no error.
func eof(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
