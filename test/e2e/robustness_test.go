package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/failpoint"
	"github.com/peapod/peapod/internal/testutil"
)

// TestPrivilegedPod runs a privileged container: it gets every capability
// the daemon holds (runc cannot grant more), and where the host withholds
// some, as this machine withholds CAP_SYS_RESOURCE from root, the daemon
// says so once in its log.
func TestPrivilegedPod(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata:
  name: priv
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    securityContext:
      privileged: true
    command: ["sh", "-c", "grep CapEff /proc/self/status; sleep 3600"]
`, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "priv", "1/1")
	want := fmt.Sprintf("%016x", d.heldCapabilities(t))
	d.waitFor("the capabilities in the log", 30*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "logs", "priv")
		return strings.Contains(out, "CapEff:\t"+want), nil
	})
	log, _ := os.ReadFile(d.logPath)
	warned := bytes.Count(log, []byte("this host withholds capabilities from peapod"))
	if all := uint64(1)<<41 - 1; d.heldCapabilities(t)&all != all {
		if warned == 0 {
			t.Errorf("the host withholds capabilities but the daemon did not say so")
		}
	} else if warned != 0 {
		t.Errorf("the daemon warned about withheld capabilities it holds")
	}
}

// heldCapabilities reads the daemon's effective and bounding sets.
func (d *daemon) heldCapabilities(t *testing.T) uint64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sets := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.HasPrefix(k, "Cap") {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			sets[k] = n
		}
	}
	return sets["CapEff"] & sets["CapBnd"]
}

// TestStartupErrors: a daemon that cannot start says why and exits 1,
// never panicking in its clean-up; a cgroup root without a leading slash
// is the same absolute cgroup.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, peapodBin, "serve", "--data-dir", filepath.Join(dir, "data"), "--run-dir", filepath.Join(dir, "run"),
		"--log-dir", filepath.Join(dir, "log"), "--config-dir", filepath.Join(dir, "etc"), "--listen", "no-port-here",
		"--cgroup-root", "test1").CombinedOutput()
	if exitErr, ok := err.(*exec.ExitError); !ok || exitErr.ExitCode() != 1 {
		t.Errorf("serve with a bad listen address: %v, want exit status 1", err)
	}
	if !bytes.Contains(out, []byte(`Error: listen address "no-port-here"`)) || bytes.Contains(out, []byte("panic")) {
		t.Errorf("serve with a bad listen address said:\n%s", out)
	}

	// Cgroup drivers: an unknown one is refused, and systemd where it is
	// not the init (else a --cgroup-root that is not a slice path).
	systemdArgs, systemdSays := []string{"--cgroup-driver", "systemd"}, "cgroup driver systemd: systemd is not running on this host"
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		systemdArgs, systemdSays = append(systemdArgs, "--cgroup-root", "/test1"), `cgroup root "/test1" is not a systemd slice path`
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--cgroup-driver", "cgroupd"}, `Error: --cgroup-driver: unknown cgroup driver "cgroupd" (want cgroupfs or systemd)`},
		{systemdArgs, systemdSays},
	} {
		args := append([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--run-dir", filepath.Join(dir, "run"),
			"--log-dir", filepath.Join(dir, "log"), "--config-dir", filepath.Join(dir, "etc"), "--listen", "127.0.0.1:0"}, tc.args...)
		out, err := exec.CommandContext(ctx, peapodBin, args...).CombinedOutput()
		if exitErr, ok := err.(*exec.ExitError); !ok || exitErr.ExitCode() != 1 || !bytes.Contains(out, []byte(tc.says)) {
			t.Errorf("serve %v: %v, want exit status 1 saying %q; it said:\n%s", tc.args, err, tc.says, out)
		}
	}

	d := startDaemon(t, withRelativeCgroupRoot())
	d.mustKubectl("1.33", "", "run", "rel", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600")
	d.waitRunning("1.33", "default", "rel", "1/1")
	pod := d.pod("default", "rel")
	found := false
	for _, h := range testutil.CgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, d.cgroupRoot, "kubepods/besteffort/pod"+string(pod.UID))); err == nil {
			found = true
		}
	}
	if !found {
		t.Errorf("no pod cgroup under %s for --cgroup-root %s", d.cgroupRoot, strings.TrimPrefix(d.cgroupRoot, "/"))
	}
}

// TestDeletionNeverWedges makes removing a pod's sandbox fail three times:
// the rest of the teardown still happens (the pod's processes die with its
// cgroup), each failure is a FailedKillPod warning, and the kubelet
// retries with back-off until the pod is gone, leaving nothing behind.
func TestDeletionNeverWedges(t *testing.T) {
	d := startDaemon(t)
	d.kill()
	d.env = []string{failpoint.EnvVar + "=kubelet-remove-sandbox=error3"}
	d.launch()
	d.mustKubectl("1.33", "", "run", "sticky", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600")
	d.waitRunning("1.33", "default", "sticky", "1/1")
	fp := d.capture(t, "default", "sticky")
	d.mustKubectl("1.33", "", "delete", "pod", "sticky", "--grace-period=1", "--wait=false")
	d.waitFor("the FailedKillPod event", 60*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "get", "events", "--field-selector", "reason=FailedKillPod", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "injected failure"), nil
	})
	d.waitFor("the pod to be gone", 90*time.Second, func() (bool, error) {
		_, _, err := d.kubectl("1.33", "", "get", "pod", "sticky")
		return err != nil, nil
	})
	d.check(t, fp)
}

// TestShutdownEndsWatches stops the daemon under an open watch and a
// followed log: the server ends both, every loop stops before the storage
// closes, and the daemon exits 0 without waiting out its shutdown timeout.
func TestShutdownEndsWatches(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", "", "run", "talker", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sh", "-c", "while true; do echo hi; sleep 1; done")
	d.waitRunning("1.33", "default", "talker", "1/1")
	w, err := d.client.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := exec.Command(kubectls["1.33"], "logs", "-f", "talker")
	logs.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir}
	if err := logs.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	d.terminate()
	if d.exitErr != nil {
		t.Errorf("the daemon exited with %v", d.exitErr)
	}
	for range w.ResultChan() { // drained: the server ended the watch
	}
	_ = logs.Wait()
	log, _ := os.ReadFile(d.logPath)
	for _, bad := range []string{"requests still open", "panic", "database not open"} {
		if bytes.Contains(log, []byte(bad)) {
			t.Errorf("the daemon log says %q", bad)
		}
	}
	d.launch() // for the harness's clean-up
}
