package e2e

import (
	"fmt"
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
	// The kubelet makes the QoS cgroups as it starts, alongside the API.
	d.waitFor("the Burstable cgroup", 30*time.Second, func() (bool, error) {
		_, err := os.Stat(filepath.Join("/sys/fs/cgroup/cpu", burstable, "cpu.shares"))
		return err == nil, nil
	})
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

// TestOOMKilledAndThrottled: a memory hog over its 32Mi limit is killed by
// the kernel, reported OOMKilled with exit code 137 and restarted under
// restartPolicy Always; a busy loop limited to 100m is throttled and gets
// about a tenth of a CPU.
func TestOOMKilledAndThrottled(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 1; dd if=/dev/zero of=/dev/null bs=64M count=1"]
    resources:
      limits: {memory: "32Mi"}
---
apiVersion: v1
kind: Pod
metadata:
  name: spinner
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: spin
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "while true; do :; done"]
    resources:
      limits: {cpu: "100m"}
`, "apply", "-f", "-")
	d.waitFor("the hog to be OOMKilled and restarted", 90*time.Second, func() (bool, error) {
		p := d.pod("default", "hog")
		for _, cs := range p.Status.ContainerStatuses {
			if last := cs.LastTerminationState.Terminated; last != nil && cs.RestartCount >= 1 {
				if last.Reason != "OOMKilled" || last.ExitCode != 137 {
					return false, fmt.Errorf("the hog ended %s with %d, want OOMKilled 137", last.Reason, last.ExitCode)
				}
				return true, nil
			}
		}
		return false, nil
	})
	if row := d.podRow("1.33", "default", "hog"); len(row) < 4 || row[3] == "0" {
		t.Errorf("RESTARTS does not show the restart: %v", row)
	}

	d.waitRunning("1.33", "default", "spinner", "1/1")
	pod := d.pod("default", "spinner")
	_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
	cg := d.cgroupRoot + "/kubepods/burstable/pod" + string(pod.UID) + "/" + id
	usage := func() int64 {
		n, _ := strconv.ParseInt(d.v1Value(t, "cpuacct", cg, "cpuacct.usage"), 10, 64)
		return n
	}
	throttled := func() int64 {
		for _, line := range strings.Split(d.v1Value(t, "cpu", cg, "cpu.stat"), "\n") {
			if v, ok := strings.CutPrefix(line, "nr_throttled "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return 0
	}
	u0, th0, start := usage(), throttled(), time.Now()
	time.Sleep(3 * time.Second)
	share := float64(usage()-u0) / float64(time.Since(start).Nanoseconds())
	if th := throttled(); th <= th0 {
		t.Errorf("nr_throttled did not grow (%d -> %d)", th0, th)
	}
	if share < 0.03 || share > 0.3 {
		t.Errorf("the 100m busy loop got %.2f of a CPU", share)
	}
}

// TestQOSClasses runs a Guaranteed, a Burstable (cpu request only) and a
// BestEffort pod (and a node-critical BestEffort one): each is classed as
// upstream, its cgroup sits under its class's parent with the class's
// values, and its container's process has the class's oom_score_adj
// (−997, 999, 1000; −997 for the node-critical pod) or, where the host forbids
// going below the daemon's own value (root without CAP_SYS_RESOURCE here),
// that value, with the intended one in the daemon's log.
func TestQOSClasses(t *testing.T) {
	d := startDaemon(t, withArgs("--pod-max-pids", "321"))
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: gold}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources: {limits: {cpu: 200m, memory: 64Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: silver}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources: {requests: {cpu: 100m}}
---
apiVersion: v1
kind: Pod
metadata: {name: bronze}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata: {name: platinum}
spec:
  terminationGracePeriodSeconds: 1
  priorityClassName: system-node-critical
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, "apply", "-f", "-")
	own := daemonOOMScoreAdj(t, d)
	for _, tc := range []struct {
		name, class, parent   string
		shares, quota, memory string
		oom                   int
	}{
		{"gold", "Guaranteed", "/kubepods", "204", "20000", "67108864", -997},
		{"silver", "Burstable", "/kubepods/burstable", "102", "-1", "9223372036854771712", 999},
		{"bronze", "BestEffort", "/kubepods/besteffort", "2", "-1", "9223372036854771712", 1000},
		// Node-critical: −997 whatever the class.
		{"platinum", "BestEffort", "/kubepods/besteffort", "2", "-1", "9223372036854771712", -997},
	} {
		d.waitRunning("1.33", "default", tc.name, "1/1")
		pod := d.pod("default", tc.name)
		if string(pod.Status.QOSClass) != tc.class {
			t.Errorf("%s: QoS class %s, want %s", tc.name, pod.Status.QOSClass, tc.class)
		}
		podCg := d.cgroupRoot + tc.parent + "/pod" + string(pod.UID)
		for file, want := range map[string]string{"cpu.shares": tc.shares, "cpu.cfs_quota_us": tc.quota} {
			if got := d.v1Value(t, "cpu", podCg, file); got != want {
				t.Errorf("%s: pod %s = %s, want %s", tc.name, file, got, want)
			}
		}
		if got := d.v1Value(t, "memory", podCg, "memory.limit_in_bytes"); got != tc.memory {
			t.Errorf("%s: pod memory limit %s, want %s", tc.name, got, tc.memory)
		}
		if got := d.v1Value(t, "pids", podCg, "pids.max"); got != "321" {
			t.Errorf("%s: pod pids.max %s, want 321 (--pod-max-pids)", tc.name, got)
		}
		_, id, _ := strings.Cut(pod.Status.ContainerStatuses[0].ContainerID, "://")
		// The container's own cgroup has the same values (one container);
		// the pause's has shares 2 and no limits, and pause runs with
		// oom_score_adj -998 (or the daemon's own, where lowering it is
		// not allowed).
		for file, want := range map[string]string{"cpu.shares": tc.shares, "cpu.cfs_quota_us": tc.quota} {
			if got := d.v1Value(t, "cpu", podCg+"/"+id, file); got != want {
				t.Errorf("%s: container %s = %s, want %s", tc.name, file, got, want)
			}
		}
		if got := d.v1Value(t, "memory", podCg+"/"+id, "memory.limit_in_bytes"); got != tc.memory {
			t.Errorf("%s: container memory limit %s, want %s", tc.name, got, tc.memory)
		}
		sandbox := ""
		entries, err := os.ReadDir(filepath.Join("/sys/fs/cgroup/cpu", podCg))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() && e.Name() != id {
				sandbox = e.Name()
			}
		}
		if sandbox == "" {
			t.Fatalf("%s: no pause cgroup beside the container's in %s", tc.name, podCg)
		}
		if got := d.v1Value(t, "cpu", podCg+"/"+sandbox, "cpu.shares"); got != "2" {
			t.Errorf("%s: pause cpu.shares %s, want 2", tc.name, got)
		}
		pausePID := strings.Fields(d.v1Value(t, "cpu", podCg+"/"+sandbox, "cgroup.procs"))[0]
		pauseAdj, _ := os.ReadFile("/proc/" + pausePID + "/oom_score_adj")
		if want := max(-998, own); hasSysResource(t, d) && strings.TrimSpace(string(pauseAdj)) != "-998" || !hasSysResource(t, d) && strings.TrimSpace(string(pauseAdj)) != strconv.Itoa(want) {
			t.Errorf("%s: pause oom_score_adj %s, want -998 (or, clamped, %d)", tc.name, strings.TrimSpace(string(pauseAdj)), want)
		}
		pid := strings.Fields(d.v1Value(t, "memory", podCg+"/"+id, "cgroup.procs"))[0]
		adj, _ := os.ReadFile("/proc/" + pid + "/oom_score_adj")
		want := tc.oom
		if want < own && !hasSysResource(t, d) {
			want = own
			log, _ := os.ReadFile(d.logPath)
			if !strings.Contains(string(log), fmt.Sprintf("intended=%d applied=%d", tc.oom, own)) {
				t.Errorf("%s: the intended oom_score_adj %d is not in the daemon's log", tc.name, tc.oom)
			}
		}
		if got := strings.TrimSpace(string(adj)); got != strconv.Itoa(want) {
			t.Errorf("%s: oom_score_adj %s, want %d", tc.name, got, want)
		}
	}
}

func daemonOOMScoreAdj(t *testing.T, d *daemon) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return n
}

// hasSysResource reports whether the daemon holds CAP_SYS_RESOURCE.
func hasSysResource(t *testing.T, d *daemon) bool {
	return d.heldCapabilities(t)&(1<<24) != 0
}
