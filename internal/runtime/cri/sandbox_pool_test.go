package cri

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/runtime/oci"
	"github.com/peapod/peapod/internal/testutil"
)

func TestUnpoolable(t *testing.T) {
	def := &oci.Runtime{Binary: "runc"}
	s := &Service{cfg: Config{Runtime: def, Handlers: map[string]*oci.Runtime{"runc": def, "crun": {Binary: "crun"}}}}
	base := func() *runtimeapi.PodSandboxConfig {
		return &runtimeapi.PodSandboxConfig{
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "web", Namespace: "default", Uid: "u"},
			Hostname: "web",
			Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/kubepods/besteffort/podu",
				SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{}}},
		}
	}
	tests := []struct {
		name    string
		handler string
		change  func(*runtimeapi.PodSandboxConfig)
		want    string
	}{
		{name: "an ordinary pod", want: ""},
		{name: "the default handler by name", handler: "runc", want: ""},
		{name: "no cgroup parent (crictl runp)", change: func(c *runtimeapi.PodSandboxConfig) { c.Linux.CgroupParent = "" }, want: ""},
		{name: "DNS and a shared PID namespace", change: func(c *runtimeapi.PodSandboxConfig) {
			c.DnsConfig = &runtimeapi.DNSConfig{Servers: []string{"10.0.0.10"}}
			c.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
		}, want: ""},
		{name: "another handler", handler: "crun", want: "runtime handler crun"},
		{name: "host network", change: func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Network = runtimeapi.NamespaceMode_NODE
		}, want: "host network"},
		{name: "host IPC", change: func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.Ipc = runtimeapi.NamespaceMode_NODE
		}, want: "host IPC"},
		{name: "a user namespace", change: func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.SecurityContext.NamespaceOptions.UsernsOptions = &runtimeapi.UserNamespace{Mode: runtimeapi.NamespaceMode_POD}
		}, want: "user namespace"},
		{name: "sysctls", change: func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.Sysctls = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
		}, want: "sysctls"},
		{name: "a host port", change: func(c *runtimeapi.PodSandboxConfig) {
			c.PortMappings = []*runtimeapi.PortMapping{{ContainerPort: 80, HostPort: 8080}}
		}, want: "host ports"},
		{name: "no hostname", change: func(c *runtimeapi.PodSandboxConfig) { c.Hostname = "" }, want: "no hostname"},
		{name: "a systemd slice", change: func(c *runtimeapi.PodSandboxConfig) {
			c.Linux.CgroupParent = "kubepods-besteffort-podu.slice"
		}, want: "systemd cgroup parent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			if tc.change != nil {
				tc.change(cfg)
			}
			if got := s.unpoolable(cfg, tc.handler); got != tc.want {
				t.Errorf("unpoolable = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSandboxPool runs the pool on real runc, CNI and cgroups: pooled
// sandboxes are not listed; a pod claims one and gets its hostname,
// files and cgroup; an unpoolable pod gets a new sandbox; the pool
// refills; stopping it removes what it holds; and a runtime that starts
// over records of pooled sandboxes (a crash) removes them.
func TestSandboxPool(t *testing.T) {
	e := newRuntimeEnv(t)
	e.cfg.CgroupRoot = e.cgroup
	ctx := context.Background()
	svc := e.start(t, ctx)
	poolCtx, stopPool := context.WithCancel(ctx)
	defer stopPool()
	poolDone := make(chan error, 1)
	go func() { poolDone <- svc.RunPool(poolCtx, 2) }()
	pooled := func() []string {
		svc.mu.Lock()
		defer svc.mu.Unlock()
		var ids []string
		for _, sb := range svc.pool.ready {
			ids = append(ids, sb.ID)
		}
		return ids
	}
	testutil.Eventually(t, "two pooled sandboxes", 30*time.Second, func() bool { return len(pooled()) == 2 })
	first := pooled()
	if list, err := svc.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{}); err != nil || len(list.Items) != 0 {
		t.Fatalf("ListPodSandbox with only pooled sandboxes = %v, %v; want none", list, err)
	}

	// A pod claims the oldest.
	cfg := sandboxConfig(e)
	cfg.Hostname = "claimed-host"
	resp, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.PodSandboxId
	if id != first[0] {
		t.Fatalf("RunPodSandbox made %s; the pool had %v", id, first)
	}
	st, err := svc.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil {
		t.Fatal(err)
	}
	if st.Status.Metadata.Name != "web" || st.Status.Metadata.Uid != "uid-1" || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY ||
		st.Status.Labels["io.kubernetes.pod.uid"] != "uid-1" || st.Status.GetNetwork().GetIp() == "" {
		t.Errorf("claimed sandbox status: %v", st.Status)
	}
	sb, _ := svc.getSandbox(id)
	var rec sandbox
	if err := readRecord(svc.sandboxDir(id), &rec); err != nil || rec.Pooled || rec.Config.GetMetadata().GetName() != "web" || rec.Cgroup != cfg.Linux.CgroupParent {
		t.Errorf("record of the claimed sandbox: pooled %v, name %q, cgroup %q (err %v)", rec.Pooled, rec.Config.GetMetadata().GetName(), rec.Cgroup, err)
	}
	// The pause is in the pod's cgroup, in every hierarchy, with the
	// sandbox's CPU shares; the pool's own cgroup is gone.
	cgLines, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(sb.PausePID), "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	want := path.Join(cfg.Linux.CgroupParent, id)
	for _, line := range strings.Split(strings.TrimSpace(string(cgLines)), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && strings.HasPrefix(f[2], e.cgroup) && f[2] != want {
			t.Errorf("pause cgroup %q, want %s", line, want)
		}
	}
	if cgroup.Exists(path.Join(e.cgroup, id)) {
		t.Errorf("the pool's cgroup %s of the claimed sandbox is left", path.Join(e.cgroup, id))
	}
	if v, err := readCPUWeight(want); err != nil || (v != "2" && v != "1") {
		t.Errorf("pause cpu shares (v1) or weight (v2) = %q (%v), want 2 or 1", v, err)
	}
	// Its containers see the pod's hostname and files.
	c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: id, SandboxConfig: cfg,
		Config: containerConfig("app", "sleep", "3600")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		t.Fatal(err)
	}
	out, err := svc.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: c.ContainerId, Cmd: []string{"sh", "-c", "hostname; cat /etc/hostname /etc/resolv.conf"}, Timeout: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out.Stdout), "claimed-host\nclaimed-host\nsearch example.test\nnameserver 10.0.0.10\noptions ndots:2\n"; got != want {
		t.Errorf("in the claimed sandbox: %q, want %q", got, want)
	}

	// The pool makes another; a pod it cannot serve gets a new sandbox.
	testutil.Eventually(t, "the pool refilled", 30*time.Second, func() bool {
		p := pooled()
		return len(p) == 2 && p[0] == first[1] && !slices.Contains(p, id)
	})
	refilled := pooled()
	other := sandboxConfig(e)
	other.Metadata.Name, other.Metadata.Uid = "ported", "uid-2"
	other.Linux.CgroupParent = e.cgroup + "/poduid-2"
	other.PortMappings = []*runtimeapi.PortMapping{{Protocol: runtimeapi.Protocol_TCP, ContainerPort: 80, HostPort: 38081}}
	resp2, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: other})
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(refilled, resp2.PodSandboxId) || !slices.Equal(pooled(), refilled) {
		t.Errorf("a pod with a host port took a pooled sandbox")
	}
	removeAll(t, svc)

	// Stopping the pool removes its sandboxes.
	stopPool()
	if err := <-poolDone; err != nil {
		t.Fatal(err)
	}
	if leaks := e.leaks(); len(leaks) > 0 {
		t.Errorf("after the pool stopped, the node still holds:\n%s", strings.Join(leaks, "\n"))
	}

	// A crash leaves pooled sandboxes to the next start, which removes
	// them.
	crashCtx, crash := context.WithCancel(ctx)
	go func() { poolDone <- svc.RunPool(crashCtx, 2) }()
	testutil.Eventually(t, "two pooled sandboxes", 30*time.Second, func() bool { return len(pooled()) == 2 })
	svc.mu.Lock()
	svc.pool.size, svc.pool.ready = 0, nil // forgotten, as by a process that died
	svc.mu.Unlock()
	crash()
	<-poolDone
	e.start(t, ctx)
	if leaks := e.leaks(); len(leaks) > 0 {
		t.Errorf("after recovery, the node still holds:\n%s", strings.Join(leaks, "\n"))
	}
}

// readCPUWeight reads cpu.shares (v1) or cpu.weight (v2) of the cgroup p.
func readCPUWeight(p string) (string, error) {
	for _, f := range []string{"/sys/fs/cgroup/cpu" + p + "/cpu.shares", "/sys/fs/cgroup/cpu,cpuacct" + p + "/cpu.shares", "/sys/fs/cgroup" + p + "/cpu.weight"} {
		if data, err := os.ReadFile(f); err == nil {
			return strings.TrimSpace(string(data)), nil
		}
	}
	return "", os.ErrNotExist
}

// TestPoolWaitsForStarts: the pool makes a sandbox only once no sandbox
// or container has been made or started for poolIdleQuiet.
func TestPoolWaitsForStarts(t *testing.T) {
	var p pool
	start := time.Now()
	p.waitIdle(context.Background())
	if d := time.Since(start); d < poolIdleQuiet || d > poolIdleMaxWait/2 {
		t.Errorf("idle: waited %v, want about %v", d, poolIdleQuiet)
	}
	done := p.starting()
	time.AfterFunc(100*time.Millisecond, done)
	start = time.Now()
	p.waitIdle(context.Background())
	if d := time.Since(start); d < 100*time.Millisecond+poolIdleQuiet {
		t.Errorf("a start under way for 100ms: waited only %v", d)
	}
	p.starting() // never ends: the wait is bounded
	start = time.Now()
	p.waitIdle(context.Background())
	if d := time.Since(start); d < poolIdleMaxWait {
		t.Errorf("busy for ever: waited only %v, want %v", d, poolIdleMaxWait)
	}
}
