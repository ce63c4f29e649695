// Package e2e drives a real peapod daemon with the real kubectl: every test
// starts its own daemon (own directories, port, bridge, pod CIDR and cgroup
// root) with a locally built busybox image, and checks what users see and
// that nothing of a deleted pod stays behind.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/peapod/peapod/internal/runtime/network"
	"github.com/peapod/peapod/internal/testimage"
	"github.com/peapod/peapod/internal/testutil"
)

// kubectls are the oldest and newest kubectl installed on the test machine.
var kubectls = map[string]string{
	"1.27": "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
	"1.33": "/usr/lib/google-cloud-sdk/bin/kubectl.1.33",
}

var (
	peapodBin string // built once in TestMain
	imageTar  string // busybox (+ ipctool, grpchealth) OCI tarball
	instances atomic.Int32
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "e2e tests must run as root (namespaces, cgroups, iptables)")
		return 1
	}
	for v, p := range kubectls {
		if _, err := os.Stat(p); err != nil {
			fmt.Fprintf(os.Stderr, "kubectl %s is required at %s: %v\n", v, p, err)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "peapod-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := buildArtifacts(dir); err != nil {
		fmt.Fprintln(os.Stderr, "preparing e2e artifacts:", err)
		return 1
	}
	return m.Run()
}

// buildArtifacts builds the peapod binary and the test image.
func buildArtifacts(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	peapodBin = filepath.Join(dir, "peapod")
	ipctool := filepath.Join(dir, "ipctool")
	grpchealth := filepath.Join(dir, "grpchealth")
	// PEAPOD_E2E_RACE=1 builds the daemon with the race detector.
	race := os.Getenv("PEAPOD_E2E_RACE") == "1"
	for _, b := range []struct{ out, pkg string }{{peapodBin, "./cmd/peapod"}, {ipctool, "./test/e2e/ipctool"}, {grpchealth, "./test/e2e/grpchealth"}} {
		args := []string{"build", "-o", b.out}
		cgo := "CGO_ENABLED=0"
		if race && b.out == peapodBin {
			args, cgo = append(args, "-race"), "CGO_ENABLED=1"
		}
		cmd := exec.Command("go", append(args, b.pkg)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), cgo)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	busybox, err := testimage.FetchBusybox(ctx, testimage.DefaultCacheDir())
	if err != nil {
		return err
	}
	imageTar = filepath.Join(dir, "busybox.tar")
	f, err := os.Create(imageTar)
	if err != nil {
		return err
	}
	defer f.Close()
	return testimage.BusyboxImage(f, busybox, "docker.io/library/busybox:latest",
		[]testimage.File{{Path: "/bin/ipctool", HostPath: ipctool, Mode: 0o755}, {Path: "/bin/grpchealth", HostPath: grpchealth, Mode: 0o755}})
}

func moduleRoot() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod not found above %s", file)
		}
		dir = parent
	}
}

// daemon is one running peapod.
type daemon struct {
	t          testing.TB
	dir        string
	bridge     string
	cidr       string
	cgroupRoot string
	kubeconfig string
	logPath    string
	args       []string
	env        []string // extra environment of the daemon process
	cmd        *exec.Cmd
	exited     chan struct{}
	exitErr    error // how the process ended, once exited is closed
	client     kubernetes.Interface
}

// daemonOption tunes startDaemon.
type daemonOption func(*daemonConfig)

type daemonConfig struct {
	fsync bool
	// relativeCgroupRoot passes --cgroup-root without its leading slash.
	relativeCgroupRoot bool
	// args are extra arguments of serve.
	args []string
}

// withArgs passes extra arguments to peapod serve.
func withArgs(args ...string) daemonOption {
	return func(c *daemonConfig) { c.args = append(c.args, args...) }
}

// withRelativeCgroupRoot passes the cgroup root without a leading slash.
func withRelativeCgroupRoot() daemonOption {
	return func(c *daemonConfig) { c.relativeCgroupRoot = true }
}

// withFsync keeps the object database's fsync on, as in production
// (tests turn it off to spare the disk).
func withFsync() daemonOption { return func(c *daemonConfig) { c.fsync = true } }

// startDaemon starts an isolated peapod with the test image imported.
func startDaemon(t testing.TB, opts ...daemonOption) *daemon {
	t.Helper()
	var cfg daemonConfig
	for _, o := range opts {
		o(&cfg)
	}
	n := instances.Add(1)
	d := &daemon{
		t:      t,
		dir:    t.TempDir(),
		bridge: fmt.Sprintf("ppe2e%d-%d", os.Getpid()%10000, n),
		// The pid in the subnet keeps two test processes (a developer's
		// and CI) from sharing subnets, routes and masquerade chains.
		cidr:       fmt.Sprintf("10.250.%d.0/24", (os.Getpid()*37+int(n))%250),
		cgroupRoot: fmt.Sprintf("/peapod-e2e-%d-%d", os.Getpid(), n),
	}
	if len(d.bridge) > 15 {
		d.bridge = d.bridge[:15]
	}
	d.kubeconfig = filepath.Join(d.dir, "kubeconfig")
	d.logPath = filepath.Join(d.dir, "peapod.log")
	if out, err := exec.Command(peapodBin, "image", "import", "--data-dir", d.path("data"), imageTar).CombinedOutput(); err != nil {
		t.Fatalf("importing test image: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	d.args = []string{"serve", "--log-level", "debug",
		"--data-dir", d.path("data"), "--run-dir", d.path("run"), "--log-dir", d.path("log"), "--config-dir", d.path("etc"),
		"--listen", addr, "--kubeconfig", d.kubeconfig, "--bridge", d.bridge, "--pod-cidr", d.cidr,
		"--cgroup-root", d.cgroupRoot}
	if cfg.relativeCgroupRoot {
		d.args[len(d.args)-1] = strings.TrimPrefix(d.cgroupRoot, "/")
	}
	// Image GC off unless a test turns it on (a fuller disk than 85%
	// would remove the test image between pods); later flags win.
	d.args = append(d.args, "--image-gc-high-threshold", "100")
	d.args = append(d.args, cfg.args...)
	if !cfg.fsync {
		d.args = append(d.args, "--unsafe-no-fsync")
	}
	// PEAPOD_E2E_CPU_PROFILE=dir profiles each daemon into dir.
	if dir := os.Getenv("PEAPOD_E2E_CPU_PROFILE"); dir != "" {
		d.args = append(d.args, "--cpu-profile", filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", strings.ReplaceAll(t.Name(), "/", "_"), n)))
	}
	d.launch()
	t.Cleanup(d.stop)
	return d
}

// launch starts the daemon process and waits until the API answers.
func (d *daemon) launch() {
	d.t.Helper()
	d.startProcess()
	if !d.waitAPI() {
		d.t.Fatal("peapod exited early")
	}
}

// startProcess starts the daemon process.
func (d *daemon) startProcess() {
	t := d.t
	t.Helper()
	logFile, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(peapodBin, d.args...)
	d.cmd.Env = append(os.Environ(), d.env...)
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	d.exited = exited
	cmd := d.cmd
	go func() { d.exitErr = cmd.Wait(); logFile.Close(); close(exited) }()
}

// waitAPI waits until the API answers and the node is registered; false
// if the daemon exits first.
func (d *daemon) waitAPI() bool {
	d.t.Helper()
	up := true
	d.waitFor("the API server to answer", 60*time.Second, func() (bool, error) {
		select {
		case <-d.exited:
			up = false
			return true, nil
		default:
		}
		if _, err := os.Stat(d.kubeconfig); err != nil {
			return false, nil
		}
		if d.client == nil {
			cfg, err := clientcmd.BuildConfigFromFlags("", d.kubeconfig)
			if err != nil {
				return false, err
			}
			// client-go throttles to 5 requests/s by default, which would
			// show up as server latency in the benchmark.
			cfg.QPS, cfg.Burst = 1000, 1000
			if d.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return false, err
			}
		}
		// Up once the kubelet registered the node: the API answers a
		// little before.
		nodes, err := d.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		return err == nil && len(nodes.Items) > 0, nil
	})
	return up
}

// terminate stops the daemon process.
func (d *daemon) terminate() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

// kill SIGKILLs the daemon process, as a crash would.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
}

func (d *daemon) path(p string) string { return filepath.Join(d.dir, p) }

// deleteWorkloads deletes every Deployment, ReplicaSet, StatefulSet,
// DaemonSet, Job and CronJob (their pods stay, for stop to delete).
func (d *daemon) deleteWorkloads(ctx context.Context) {
	orphan := metav1.DeletePropagationOrphan
	opts := metav1.DeleteOptions{PropagationPolicy: &orphan}
	all := metav1.ListOptions{}
	apps, batch := d.client.AppsV1(), d.client.BatchV1()
	if l, err := batch.CronJobs("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = batch.CronJobs(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
	if l, err := apps.Deployments("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = apps.Deployments(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
	if l, err := apps.ReplicaSets("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = apps.ReplicaSets(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
	if l, err := apps.StatefulSets("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = apps.StatefulSets(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
	if l, err := apps.DaemonSets("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = apps.DaemonSets(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
	if l, err := batch.Jobs("").List(ctx, all); err == nil {
		for _, x := range l.Items {
			_ = batch.Jobs(x.Namespace).Delete(ctx, x.Name, opts)
		}
	}
}

// podSandboxes lists the runtime's sandbox records that are pods' (not
// made for the sandbox pool and unclaimed).
func (d *daemon) podSandboxes() []string {
	entries, _ := os.ReadDir(d.path("data/runtime/sandboxes"))
	var out []string
	for _, e := range entries {
		var rec struct {
			Pooled bool `json:"pooled"`
		}
		data, err := os.ReadFile(d.path("data/runtime/sandboxes/" + e.Name() + "/record.json"))
		if err == nil && json.Unmarshal(data, &rec) == nil && rec.Pooled {
			continue
		}
		out = append(out, e.Name())
	}
	return out
}

// stop deletes every workload and pod, waits until the runtime has nothing
// left, stops the daemon (resetting the node if something stayed) and
// removes the per-test bridge and cgroups.
func (d *daemon) stop() {
	t := d.t
	ctx := context.Background()
	leftovers := false
	if d.client != nil {
		zero := int64(0)
		// Controllers first: a test that failed half way would otherwise
		// see its ReplicaSets and Jobs make the pods deleted below again.
		d.deleteWorkloads(ctx)
		deletePods := func() {
			pods, err := d.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err == nil {
				for _, p := range pods.Items {
					if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds > 0 {
						_ = d.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
					}
				}
			}
		}
		deletePods()
		lastDelete := time.Now()
		// Not waitFor: a fatal failure here would skip stopping the
		// daemon, which would then outlive the test.
		// Empty for a whole second: a pod deleted while its worker was
		// making it (claiming a pooled sandbox, whose record says pooled
		// until the claim ends, then starting its container) shows up
		// again before its teardown.
		var emptySince time.Time
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			ctrs, _ := os.ReadDir(d.path("data/runtime/containers"))
			if len(d.podSandboxes()) > 0 || len(ctrs) > 0 {
				emptySince = time.Time{}
				if time.Since(lastDelete) > 5*time.Second {
					// A pod a controller made while it was being
					// deleted above.
					deletePods()
					lastDelete = time.Now()
				}
			} else if emptySince.IsZero() {
				emptySince = time.Now()
			} else if time.Since(emptySince) > time.Second {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the runtime still has sandboxes or containers 60s after every pod was deleted")
				leftovers = true
				break
			}
		}
	}
	d.terminate()
	if leftovers && d.args != nil {
		// Nothing of a failed test may outlive it and disturb the next.
		if out, err := exec.Command(peapodBin, append([]string{"reset"}, d.nodeFlags()...)...).CombinedOutput(); err != nil {
			t.Errorf("peapod reset after the leftovers: %v\n%s", err, out)
		}
	}
	_ = exec.Command("ip", "link", "del", d.bridge).Run()
	if err := network.RemoveMasquerade("peapod", d.cidr); err != nil {
		t.Errorf("removing the masquerade rule: %v", err)
	}
	testutil.RemoveCgroupTree(d.cgroupRoot)
	if log, err := os.ReadFile(d.logPath); err == nil && strings.Contains(string(log), "WARNING: DATA RACE") {
		t.Errorf("the daemon reported a data race (see %s)", d.logPath)
	}
	// PEAPOD_E2E_LOG_DIR keeps the whole log of a failed test (of every
	// test with PEAPOD_E2E_KEEP_ALL_LOGS=1).
	if dir := os.Getenv("PEAPOD_E2E_LOG_DIR"); dir != "" && (t.Failed() || os.Getenv("PEAPOD_E2E_KEEP_ALL_LOGS") == "1") {
		if log, err := os.ReadFile(d.logPath); err == nil {
			name := strings.ReplaceAll(t.Name(), "/", "_") + ".log"
			if err := os.WriteFile(filepath.Join(dir, name), log, 0o644); err == nil {
				t.Logf("peapod log kept in %s", filepath.Join(dir, name))
			}
		}
	}
	if t.Failed() {
		if log, err := os.ReadFile(d.logPath); err == nil {
			lines := strings.Split(string(log), "\n")
			if len(lines) > 200 {
				lines = lines[len(lines)-200:]
			}
			t.Logf("peapod log (tail):\n%s", strings.Join(lines, "\n"))
		}
	}
}

// kubectl runs the kubectl of version with the daemon's kubeconfig.
func (d *daemon) kubectl(version string, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(kubectls[version], args...)
	cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// mustKubectl runs kubectl and fails the test on error.
func (d *daemon) mustKubectl(version, stdin string, args ...string) string {
	d.t.Helper()
	out, errOut, err := d.kubectl(version, stdin, args...)
	if err != nil {
		d.t.Fatalf("kubectl %s %s: %v\nstdout: %s\nstderr: %s", version, strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// waitFor polls cond every 100 ms until it holds; timeout is only a bound
// against hanging, not a performance assertion.
func (d *daemon) waitFor(what string, timeout time.Duration, cond func() (bool, error)) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			d.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pod returns the API object of a pod.
func (d *daemon) pod(ns, name string) *corev1.Pod {
	d.t.Helper()
	p, err := d.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		d.t.Fatal(err)
	}
	return p
}

// waitRunning waits until `kubectl get pod` shows READY ready and STATUS
// Running for the pod.
func (d *daemon) waitRunning(version, ns, name, ready string) {
	d.t.Helper()
	d.waitFor(ready+" Running", 60*time.Second, func() (bool, error) {
		row := d.podRow(version, ns, name)
		return len(row) > 2 && row[1] == ready && row[2] == "Running", nil
	})
}

// podRow returns the `kubectl get pod` row of name, split into columns.
func (d *daemon) podRow(version, ns, name string) []string {
	d.t.Helper()
	out, _, err := d.kubectl(version, "", "get", "pod", name, "-n", ns, "--no-headers")
	if err != nil {
		return nil
	}
	return strings.Fields(out)
}

// succeededLogs waits for a default-namespace pod to succeed and returns
// its logs.
func (d *daemon) succeededLogs(name string) string {
	d.t.Helper()
	d.waitFor(name+" to succeed", 60*time.Second, func() (bool, error) {
		return d.pod("default", name).Status.Phase == corev1.PodSucceeded, nil
	})
	return d.mustKubectl("1.33", "", "logs", name)
}
