package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// frontendPod is seed 000's `frontend` pod, with busybox images: two
// containers, each requesting 64Mi/250m with limits 128Mi/500m.
const frontendPod = `apiVersion: v1
kind: Pod
metadata:
  name: frontend
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {memory: "64Mi", cpu: "250m"}
      limits: {memory: "128Mi", cpu: "500m"}
  - name: log-aggregator
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {memory: "64Mi", cpu: "250m"}
      limits: {memory: "128Mi", cpu: "500m"}
`

// v1Value reads a cgroup v1 file of the daemon's cgroup tree (this host is
// cgroup v1; the v2 values are checked in the VM by the kubelet tests).
func (d *daemon) v1Value(t *testing.T, ctrl, cgroup, file string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", ctrl, cgroup, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestFrontendCgroups checks the cgroup tree of seed 000's frontend pod:
// each container's values, the pod cgroup's (the sums), the Burstable
// parent's shares growing by the pod's 512 and shrinking back after the
// delete, and `kubectl describe` naming the class.
func TestFrontendCgroups(t *testing.T) {
	d := startDaemon(t)
	burstable := d.cgroupRoot + "/kubepods/burstable"
	before := d.v1Value(t, "cpu", burstable, "cpu.shares")
	d.mustKubectl("1.33", frontendPod, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "frontend", "2/2")
	pod := d.pod("default", "frontend")
	podCg := burstable + "/pod" + string(pod.UID)
	for file, want := range map[string]string{"cpu.shares": "512", "cpu.cfs_quota_us": "100000", "cpu.cfs_period_us": "100000"} {
		if got := d.v1Value(t, "cpu", podCg, file); got != want {
			t.Errorf("pod cgroup %s = %s, want %s", file, got, want)
		}
	}
	if got := d.v1Value(t, "memory", podCg, "memory.limit_in_bytes"); got != "268435456" {
		t.Errorf("pod memory limit %s, want 268435456", got)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		_, id, _ := strings.Cut(cs.ContainerID, "://")
		for ctrl, files := range map[string]map[string]string{
			"cpu":    {"cpu.shares": "256", "cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"},
			"memory": {"memory.limit_in_bytes": "134217728"},
		} {
			for file, want := range files {
				if got := d.v1Value(t, ctrl, podCg+"/"+id, file); got != want {
					t.Errorf("container %s %s = %s, want %s", cs.Name, file, got, want)
				}
			}
		}
	}
	if got := d.v1Value(t, "cpu", burstable, "cpu.shares"); got != sharesPlus(before, 512) {
		t.Errorf("burstable shares %s with the pod, %s before: want +512", got, before)
	}
	if out := d.mustKubectl("1.27", "", "describe", "pod", "frontend"); !regexp.MustCompile(`QoS Class:\s+Burstable\n`).MatchString(out) {
		t.Errorf("describe does not say QoS Class Burstable:\n%s", out)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "frontend")
	d.waitFor("the burstable shares to shrink back", 30*time.Second, func() (bool, error) {
		return d.v1Value(t, "cpu", burstable, "cpu.shares") == before, nil
	})
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/cpu", podCg)); !os.IsNotExist(err) {
		t.Errorf("pod cgroup left after delete: %v", err)
	}
}

// sharesPlus is what the Burstable parent holds once a pod's shares join
// those of before (2, the minimum, stands for none).
func sharesPlus(before string, add int) string {
	n, _ := strconv.Atoi(before)
	if n == 2 {
		n = 0
	}
	return strconv.Itoa(n + add)
}
