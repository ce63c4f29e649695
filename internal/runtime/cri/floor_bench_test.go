package cri

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	rspec "github.com/opencontainers/runtime-spec/specs-go"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/testimage"
	"github.com/peapod/peapod/internal/testutil"
)

// BenchmarkStartFloor measures what a pod's start and delete cost below
// the API server and the kubelet, from the bottom up, so that the pod
// lifecycle benchmark (test/e2e) can be read against a floor:
//
//   - exec: fork and exec of /bin/true, waited for: the price of any
//     process the runtime spawns.
//   - runc/1: `runc create` + `runc start` of a busybox container from a
//     ready bundle (no conmon, no overlay, the host's network), then
//     `runc kill` + `runc delete --force`: the OCI runtime alone;
//     runc/2: two such containers at once, as a two-container pod's.
//   - cni: a network namespace made and attached to the pod network by
//     the CNI plugins (bridge, host-local), then detached and removed:
//     what a sandbox's network costs (a pooled sandbox's attach is made
//     ahead of time; its detach is on the pod's delete).
//   - container: CreateContainer + StartContainer in a ready sandbox, then
//     StopContainer (no grace) + RemoveContainer: the runtime's own path
//     (overlay root, spec, conmon, runc).
//   - pod: RunPodSandbox (a pooled sandbox) + CreateContainer +
//     StartContainer, then StopPodSandbox + RemovePodSandbox: everything
//     peapod's kubelet asks of the runtime for a one-container pod.
//
// Each reports the start's p50 and p99 and the delete's p50, and the whole
// machine's CPU time (from /proc/stat: every process, the pool's refill
// and the kernel included) in the start, in the delete and per iteration
// all told, which bounds how many pods two cores can start per second.
// Run with nothing else busy:
//
//	go test -run '^$' -bench StartFloor -benchtime 20x ./internal/runtime/cri
func BenchmarkStartFloor(b *testing.B) {
	testutil.RequireRoot(b)
	b.Run("exec", func(b *testing.B) {
		measure(b, func(_ int, mark func(phase)) {
			mark(starting)
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
			mark(started)
			mark(deleting)
			mark(deleted)
		})
	})
	b.Run("runc", func(b *testing.B) {
		// A bundle for each container that runs at once: runc reads the
		// cgroup path from it.
		bundles := []string{runcBundle(b), runcBundle(b)}
		runc, err := exec.LookPath("runc")
		if err != nil {
			b.Fatal(err)
		}
		root := filepath.Join(b.TempDir(), "runc")
		parent := fmt.Sprintf("/peapod-floor-%d", os.Getpid())
		b.Cleanup(func() { testutil.RemoveCgroupTree(parent) })
		stdio, err := os.Create(filepath.Join(b.TempDir(), "stdio"))
		if err != nil {
			b.Fatal(err)
		}
		defer stdio.Close()
		// A benchmark stopped half way leaves no container behind (this
		// runs before the cgroups and the runc root are removed).
		b.Cleanup(func() {
			out, _ := exec.Command(runc, "--root", root, "list", "-q").Output()
			for _, id := range strings.Fields(string(out)) {
				exec.Command(runc, "--root", root, "delete", "--force", id).Run()
			}
		})
		run := func(args ...string) error {
			cmd := exec.Command(runc, append([]string{"--root", root}, args...)...)
			// The container keeps runc create's stdio: a file, not a
			// pipe that would be open until it exits.
			cmd.Stdout, cmd.Stderr = stdio, stdio
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("runc %v: %w (output in %s)", args, err, stdio.Name())
			}
			return nil
		}
		create := func(j int, id string) error {
			// A cgroup of its own.
			err := editSpec(bundles[j], func(spec *rspec.Spec) { spec.Linux.CgroupsPath = parent + "/" + id })
			if err != nil {
				return err
			}
			if err := run("create", "--bundle", bundles[j], id); err != nil {
				return err
			}
			return run("start", id)
		}
		remove := func(_ int, id string) error {
			if err := run("kill", id, "KILL"); err != nil {
				return err
			}
			return run("delete", "--force", id)
		}
		// One container, then two side by side (a two-container pod's
		// containers start together).
		for _, n := range []int{1, 2} {
			b.Run(strconv.Itoa(n), func(b *testing.B) {
				measure(b, func(i int, mark func(phase)) {
					var ids []string
					for j := range n {
						ids = append(ids, fmt.Sprintf("floor-%d-%d", i, j))
					}
					mark(starting)
					if err := each(ids, create); err != nil {
						b.Fatal(err)
					}
					mark(started)
					mark(deleting)
					if err := each(ids, remove); err != nil {
						b.Fatal(err)
					}
					mark(deleted)
				})
			})
		}
	})
	b.Run("cni", func(b *testing.B) {
		e := newRuntimeEnv(b)
		ctx := context.Background()
		measure(b, func(i int, mark func(phase)) {
			ns := filepath.Join(e.dir, "netns", strconv.Itoa(i))
			a := network.Attachment{SandboxID: fmt.Sprintf("floor-%d-%d", os.Getpid(), i), NetNS: ns, Namespace: "default", Name: "web", UID: "uid-1"}
			mark(starting)
			if err := network.NewNetNS(ns); err != nil {
				b.Fatal(err)
			}
			if _, err := e.cfg.Network.Setup(ctx, a); err != nil {
				b.Fatal(err)
			}
			mark(started)
			mark(deleting)
			if err := e.cfg.Network.Teardown(ctx, a); err != nil {
				b.Fatal(err)
			}
			if err := network.RemoveNetNS(ns); err != nil {
				b.Fatal(err)
			}
			mark(deleted)
		})
	})
	b.Run("container", func(b *testing.B) {
		e := newRuntimeEnv(b)
		ctx := context.Background()
		svc := e.start(b, ctx)
		sbID, sbCfg := hostNetworkSandbox(b, ctx, svc, e)
		measure(b, func(i int, mark func(phase)) {
			mark(starting)
			c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sbID, SandboxConfig: sbCfg,
				Config: containerConfig(fmt.Sprintf("app%d", i), "sleep", "60")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
				b.Fatal(err)
			}
			mark(started)
			mark(deleting)
			if _, err := svc.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: c.ContainerId}); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.ContainerId}); err != nil {
				b.Fatal(err)
			}
			mark(deleted)
		})
	})
	b.Run("pod", func(b *testing.B) {
		e := newRuntimeEnv(b)
		e.cfg.CgroupRoot = e.cgroup
		ctx := context.Background()
		svc := e.start(b, ctx)
		poolCtx, stopPool := context.WithCancel(ctx)
		poolDone := make(chan error, 1)
		go func() { poolDone <- svc.RunPool(poolCtx, 2) }()
		defer func() { stopPool(); <-poolDone }()
		full := func() bool {
			svc.mu.Lock()
			defer svc.mu.Unlock()
			return len(svc.pool.ready) == 2
		}
		testutil.Eventually(b, "a full pool", 30*time.Second, full)
		measure(b, func(i int, mark func(phase)) {
			// One pod at a time, as in the lifecycle benchmark.
			cfg := sandboxConfig(e)
			uid := fmt.Sprintf("floor-%d", i)
			cfg.Metadata.Uid, cfg.Labels["io.kubernetes.pod.uid"] = uid, uid
			cfg.Linux.CgroupParent = e.cgroup + "/pod" + uid
			mark(starting)
			sb, err := svc.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
			if err != nil {
				b.Fatal(err)
			}
			c, err := svc.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, SandboxConfig: cfg,
				Config: containerConfig("app", "sleep", "60")})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
				b.Fatal(err)
			}
			mark(started)
			// The pool makes up for the claim before the delete is
			// measured (its CPU is in cpu-ms).
			testutil.Eventually(b, "a full pool", 30*time.Second, full)
			mark(deleting)
			if _, err := svc.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
				b.Fatal(err)
			}
			if _, err := svc.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.PodSandboxId}); err != nil {
				b.Fatal(err)
			}
			mark(deleted)
		})
	})
}

// A phase of an iteration: op marks each one as it reaches it.
type phase int

const (
	starting phase = iota
	started
	deleting
	deleted
)

// measure runs op b.N times and reports the p50 and p99 of the time from
// starting to started and the p50 from deleting to deleted, the machine's
// CPU time in each of those two phases, and its CPU time per iteration
// all told (what op did before starting included).
func measure(b *testing.B, op func(i int, mark func(phase))) {
	b.Helper()
	var starts, dels []time.Duration
	var startCPU, delCPU time.Duration
	cpu0 := machineCPU(b)
	b.ResetTimer()
	for i := range b.N {
		var at [deleted + 1]time.Time
		var cpu [deleted + 1]time.Duration
		op(i, func(p phase) { at[p], cpu[p] = time.Now(), machineCPU(b) })
		starts, dels = append(starts, at[started].Sub(at[starting])), append(dels, at[deleted].Sub(at[deleting]))
		startCPU += cpu[started] - cpu[starting]
		delCPU += cpu[deleted] - cpu[deleting]
	}
	b.StopTimer()
	total := machineCPU(b) - cpu0
	slices.Sort(starts)
	slices.Sort(dels)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	perOp := func(d time.Duration) float64 { return ms(d) / float64(b.N) }
	b.ReportMetric(ms(starts[len(starts)/2]), "start-p50-ms")
	b.ReportMetric(ms(starts[(len(starts)-1)*99/100]), "start-p99-ms")
	b.ReportMetric(perOp(startCPU), "start-cpu-ms")
	if dels[len(dels)-1] > 0 {
		b.ReportMetric(ms(dels[len(dels)/2]), "delete-p50-ms")
		b.ReportMetric(perOp(delCPU), "delete-cpu-ms")
	}
	b.ReportMetric(perOp(total), "cpu-ms")
}

// each runs f for every id (and its index) side by side and waits for
// them all.
func each(ids []string, f func(int, string) error) error {
	var fns []func() error
	for i, id := range ids {
		fns = append(fns, func() error { return f(i, id) })
	}
	return errors.Join(sideBySide(fns...)...)
}

// machineCPU is the CPU time all processors have spent outside idle and
// iowait since boot, from /proc/stat's first line (in USER_HZ ticks).
func machineCPU(b *testing.B) time.Duration {
	b.Helper()
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	var ticks int64
	// cpu user nice system idle iowait irq softirq steal ...
	for i, f := range fields[1:] {
		if i == 3 || i == 4 || i > 7 {
			continue
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %q: %v", line, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100
}

// runcBundle is an OCI bundle whose root holds a static busybox, to run
// `sleep 60` with runc's default namespaces but the network (a pod's
// container joins its sandbox's, which costs next to nothing).
func runcBundle(b *testing.B) string {
	b.Helper()
	busybox, err := testimage.FetchBusybox(context.Background(), testimage.DefaultCacheDir())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(bin, "sleep")); err != nil {
		b.Fatal(err)
	}
	if out, err := exec.Command("runc", "spec", "--bundle", dir).CombinedOutput(); err != nil {
		b.Fatalf("runc spec: %v: %s", err, out)
	}
	err = editSpec(dir, func(spec *rspec.Spec) {
		spec.Process.Terminal = false
		spec.Process.Args = []string{"/bin/sleep", "60"}
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns rspec.LinuxNamespace) bool {
			return ns.Type == rspec.NetworkNamespace
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// editSpec changes the bundle's config.json.
func editSpec(bundle string, edit func(*rspec.Spec)) error {
	raw, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return err
	}
	var spec rspec.Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return err
	}
	edit(&spec)
	return writeSpec(bundle, &spec)
}
