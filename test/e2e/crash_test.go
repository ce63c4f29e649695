package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/failpoint"
	"github.com/peapod/peapod/internal/testutil"
)

// crashPoints are the failpoints the crash test arms: every creation and
// removal step of the runtime and the kubelet's steps around it.
var crashPoints = []string{
	"kubelet-pod-cgroup",
	"sandbox-netns", "sandbox-network", "sandbox-files", "sandbox-pause", "sandbox-ready", "sandbox-created",
	"container-rootfs", "container-runtime", "container-ready", "container-created", "container-start", "container-started",
	"kubelet-teardown", "sandbox-remove", "kubelet-delete",
}

// TestCrashRecovery creates and deletes pods while the daemon dies by
// SIGKILL, half the time at a failpoint inside a sandbox, container or
// teardown step and half the time at a random moment, and restarts it on
// the same directories each time. At the end every pod still wanted must
// run, every pod deleted must be gone within its grace period plus 10 s,
// and once all are deleted the node must hold nothing of any of them.
func TestCrashRecovery(t *testing.T) {
	d := startDaemon(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	const cycles = 40
	ctx := context.Background()
	var hostPorts []int
	crashes, early := 0, 0
	for i := 0; i < cycles; i++ {
		// The daemon of this cycle is already running (launched at the
		// end of the previous one, or by startDaemon).
		for j := 0; j < 3; j++ {
			port := 0
			if j == 0 {
				port = 30000 + i
				hostPorts = append(hostPorts, port)
			}
			_, _ = d.client.CoreV1().Pods("default").Create(ctx, crashPod(fmt.Sprintf("crash-%d-%d", i, j), port), metav1.CreateOptions{})
		}
		if i >= 2 {
			grace := int64(1)
			for j := 0; j < 3; j++ {
				_ = d.client.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("crash-%d-%d", i-2, j), metav1.DeleteOptions{GracePeriodSeconds: &grace})
			}
		}
		if len(d.env) > 0 {
			select {
			case <-d.exited:
			case <-time.After(3 * time.Second):
			}
		} else {
			time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond)
		}
		d.kill()
		crashes++
		// Every other restart arms a failpoint, hit on its first or
		// second pass.
		d.env = nil
		if i%2 == 0 {
			point := crashPoints[(i/2)%len(crashPoints)]
			d.env = []string{fmt.Sprintf("%s=%s=%d", failpoint.EnvVar, point, 1+rng.IntN(2))}
		}
		for {
			d.startProcess()
			if d.waitAPI() {
				break
			}
			early++ // died at its failpoint while recovering
			d.env = nil
		}
	}
	d.kill()
	d.env = nil
	d.launch()
	t.Logf("%d crashes (%d during start-up)", crashes, early)

	// Every pod converges: wanted ones run, deleted ones go.
	pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			d.waitGone(p.Name, restarted.Add(time.Duration(*p.DeletionGracePeriodSeconds+10)*time.Second))
			continue
		}
		d.waitFor(p.Name+" Running", 60*time.Second, func() (bool, error) {
			cur, err := d.client.CoreV1().Pods("default").Get(ctx, p.Name, metav1.GetOptions{})
			return err == nil && cur.Status.Phase == corev1.PodRunning, nil
		})
	}
	grace := int64(1)
	deleted := time.Now()
	for _, p := range pods.Items {
		_ = d.client.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	}
	for _, p := range pods.Items {
		d.waitGone(p.Name, deleted.Add(time.Duration(grace+10)*time.Second))
	}
	d.terminate()
	if leaks := d.nodeLeaks(hostPorts); len(leaks) > 0 {
		t.Errorf("after %d crashes and the deletion of every pod, the node still holds:\n%s", crashes, strings.Join(leaks, "\n"))
	}
}

// TestResetAfterCrash crashes the daemon in the middle of creating a pod's
// container and checks that `peapod reset` exits 0 and leaves the node
// clean.
func TestResetAfterCrash(t *testing.T) {
	d := startDaemon(t)
	d.kill()
	d.env = []string{failpoint.EnvVar + "=container-ready"}
	d.startProcess()
	if d.waitAPI() {
		_, err := d.client.CoreV1().Pods("default").Create(context.Background(), crashPod("half", 31999), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-d.exited:
		case <-time.After(30 * time.Second):
			t.Fatal("the daemon did not reach its failpoint")
		}
	}
	cmd := exec.Command(peapodBin, append([]string{"reset"}, d.nodeFlags()...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("peapod reset: %v\n%s", err, out)
	}
	if leaks := d.nodeLeaks([]int{31999}); len(leaks) > 0 {
		t.Errorf("after reset the node still holds:\n%s", strings.Join(leaks, "\n"))
	}
	// The bridge and the QoS cgroups go too.
	if _, err := os.Stat("/sys/class/net/" + d.bridge); err == nil {
		t.Errorf("bridge %s left", d.bridge)
	}
	d.env = nil
	d.launch() // for the harness's own clean-up
}

func crashPod(name string, hostPort int) *corev1.Pod {
	grace := int64(1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent,
				Command: []string{"sleep", "3600"},
			}},
		},
	}
	if hostPort > 0 {
		p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: int32(hostPort)}}
	}
	return p
}

// waitGone waits until the pod is gone from the API, failing the test if
// that takes past deadline.
func (d *daemon) waitGone(name string, deadline time.Time) {
	d.t.Helper()
	for {
		_, err := d.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			d.t.Errorf("pod %s still there past %s", name, deadline.Format(time.RFC3339))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeFlags are the daemon's flags that locate its node state (for
// `peapod reset`).
func (d *daemon) nodeFlags() []string {
	var out []string
	for i := 0; i+1 < len(d.args); i++ {
		switch d.args[i] {
		case "--data-dir", "--run-dir", "--log-dir", "--config-dir", "--bridge", "--pod-cidr", "--cgroup-root":
			out = append(out, d.args[i], d.args[i+1])
		}
	}
	return out
}

// nodeLeaks lists every trace of a sandbox or container of this daemon's
// left on the node, of every kind: processes, mounts, network namespace
// pins, veths, IP reservations, CNI results, cgroups, runc states, runtime
// records and run files, kubelet pod and log directories, and the portmap
// rules of the given host ports.
func (d *daemon) nodeLeaks(hostPorts []int) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		if stat, err := os.ReadFile(p + "/stat"); err != nil || isZombie(string(stat)) {
			continue // exited; its parent reaps it
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		cg, _ := os.ReadFile(p + "/cgroup")
		if strings.Contains(string(cmdline), d.dir) || strings.Contains(string(cg), d.cgroupRoot+"/") {
			out = append(out, fmt.Sprintf("process %s: %s", filepath.Base(p), strings.ReplaceAll(string(cmdline), "\x00", " ")))
		}
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, d.dir) {
			out = append(out, "mount: "+line)
		}
	}
	for _, dir := range []string{"run/netns", "run/runtime", "run/sandboxes", "run/containers", "run/exits", "run/conmon",
		"data/runtime/sandboxes", "data/runtime/containers", "data/cni/cache/results", "data/kubelet/pods", "log"} {
		entries, _ := os.ReadDir(d.path(dir))
		for _, e := range entries {
			out = append(out, dir+"/"+e.Name())
		}
	}
	reservations, _ := os.ReadDir(d.path("data/cni/networks/peapod"))
	for _, e := range reservations {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip.") {
			out = append(out, "IP reservation "+n)
		}
	}
	if links, _ := exec.Command("ip", "-o", "link", "show", "master", d.bridge).Output(); strings.TrimSpace(string(links)) != "" {
		out = append(out, "veths on "+d.bridge+": "+string(links))
	}
	qos := map[string]bool{"kubepods": true, "burstable": true, "besteffort": true}
	for _, h := range testutil.CgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, d.cgroupRoot), func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() && p != filepath.Join(h, d.cgroupRoot) && !qos[e.Name()] {
				out = append(out, "cgroup "+p)
				return filepath.SkipDir
			}
			return nil
		})
	}
	rules, _ := exec.Command("iptables-save", "-t", "nat").Output()
	for _, port := range hostPorts {
		if regexp.MustCompile(fmt.Sprintf(`--dport %d\b`, port)).Match(rules) {
			out = append(out, fmt.Sprintf("portmap rule for host port %d", port))
		}
	}
	return out
}

// isZombie reads the state field of /proc/<pid>/stat.
func isZombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i >= 0 && strings.HasPrefix(stat[i+1:], " Z")
}
