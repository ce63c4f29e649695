package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusWatch collects the STATUS column of every row `kubectl get pod -w`
// prints for one pod.
type statusWatch struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	rows [][]string
	done chan struct{}
}

// watchRows starts `kubectl get pod NAME -w` with a kubectl version.
func (d *daemon) watchRows(version, ns, name string) *statusWatch {
	d.t.Helper()
	w := &statusWatch{done: make(chan struct{})}
	w.cmd = exec.Command(kubectls[version], "get", "pods", "-n", ns, "--field-selector", "metadata.name="+name, "-w", "--no-headers", "--request-timeout=0")
	w.cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			w.mu.Lock()
			w.rows = append(w.rows, strings.Fields(sc.Text()))
			w.mu.Unlock()
		}
	}()
	d.t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the watch and returns the STATUS values seen, repeats
// folded.
func (w *statusWatch) stop() []string {
	if w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
	<-w.done
	_ = w.cmd.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, r := range w.rows {
		if len(r) > 2 && (len(out) == 0 || out[len(out)-1] != r[2]) {
			out = append(out, r[2])
		}
	}
	return out
}

// hasSubsequence reports whether want appears in got in order (not
// necessarily next to each other).
func hasSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// sameRow checks that kubectl 1.27 and 1.33 print the same READY and
// STATUS for a pod, and returns the 1.33 row.
func (d *daemon) sameRow(ns, name string) []string {
	d.t.Helper()
	old, cur := d.podRow("1.27", ns, name), d.podRow("1.33", ns, name)
	if len(old) < 3 || len(cur) < 3 || old[1] != cur[1] || old[2] != cur[2] {
		d.t.Errorf("kubectl 1.27 prints %q, 1.33 %q", old, cur)
	}
	return cur
}

// events returns the pod's events as "Reason: message" (with the
// container the event is about before it, "container: Reason: message").
func (d *daemon) events(ns, name string) []string {
	d.t.Helper()
	list, err := d.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		d.t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		line := e.Reason + ": " + e.Message
		if m := regexp.MustCompile(`\{(.*)\}`).FindStringSubmatch(e.InvolvedObject.FieldPath); m != nil {
			line = m[1] + ": " + line
		}
		out = append(out, line)
	}
	return out
}

func containsAll(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s lack %q:\n%s", what, w, strings.Join(got, "\n"))
		}
	}
}

const initPod = `apiVersion: v1
kind: Pod
metadata:
  name: NAME
spec:
  restartPolicy: POLICY
  volumes:
  - name: work
    emptyDir: {}
  initContainers:
  - name: first
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 1; echo hello from init > /work/msg"]
    volumeMounts: [{name: work, mountPath: /work}]
  - name: second
    image: busybox
    imagePullPolicy: IfNotPresent
    # Fails twice, then succeeds (the count lives in the emptyDir).
    command: ["sh", "-c", "n=$(cat /work/count 2>/dev/null || echo 0); echo $((n+1)) > /work/count; [ $n -ge 2 ]"]
    volumeMounts: [{name: work, mountPath: /work}]
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "cat /work/msg; sleep 3600"]
    volumeMounts: [{name: work, mountPath: /work}]
`

// TestInitContainers: two init containers run one after the other, the
// second failing twice: STATUS goes Init:0/2, Init:1/2, Init:Error,
// Init:CrashLoopBackOff, PodInitializing, Running (the same rows under
// kubectl 1.27 and 1.33), the app reads what the first wrote into an
// emptyDir. Under restartPolicy Never the first failure fails the pod and
// the app never starts.
func TestInitContainers(t *testing.T) {
	d := startDaemon(t)
	manifest := strings.NewReplacer("NAME", "init", "POLICY", "Always").Replace(initPod)
	watches := map[string]*statusWatch{"1.27": d.watchRows("1.27", "default", "init"), "1.33": d.watchRows("1.33", "default", "init")}
	time.Sleep(500 * time.Millisecond) // the watches are set up
	d.mustKubectl("1.33", manifest, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "init", "1/1")
	time.Sleep(500 * time.Millisecond) // the last rows arrive
	want := []string{"Init:0/2", "Init:1/2", "Init:Error", "Init:CrashLoopBackOff", "PodInitializing", "Running"}
	seen := map[string][]string{}
	for v, w := range watches {
		seen[v] = w.stop()
		if !hasSubsequence(seen[v], want) {
			t.Errorf("kubectl %s saw STATUS %q, want %q in that order", v, seen[v], want)
		}
	}
	if !slices.Equal(seen["1.27"], seen["1.33"]) {
		t.Errorf("kubectl 1.27 saw %q, 1.33 %q", seen["1.27"], seen["1.33"])
	}
	if logs := d.mustKubectl("1.33", "", "logs", "init"); logs != "hello from init\n" {
		t.Errorf("app logs %q", logs)
	}
	pod := d.pod("default", "init")
	if len(pod.Status.InitContainerStatuses) != 2 {
		t.Fatalf("initContainerStatuses %+v", pod.Status.InitContainerStatuses)
	}
	second := pod.Status.InitContainerStatuses[1]
	if second.RestartCount != 2 || !second.Ready || second.State.Terminated == nil || second.State.Terminated.Reason != "Completed" ||
		second.LastTerminationState.Terminated == nil || second.LastTerminationState.Terminated.ExitCode != 1 {
		t.Errorf("second init container %+v", second)
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status != corev1.ConditionTrue {
			t.Errorf("Initialized %+v", c)
		}
	}
	containsAll(t, "events", d.events("default", "init"),
		"second: BackOff: Back-off restarting failed container second in pod init_default("+string(pod.UID)+")")
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "describe", "pod", "init")
		for _, want := range []string{"Init Containers:", "Restart Count:  2", "Initialized                 True"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl %s describe lacks %q:\n%s", v, want, out)
			}
		}
	}

	d.mustKubectl("1.33", strings.NewReplacer("NAME", "init-never", "POLICY", "Never").Replace(initPod), "apply", "-f", "-")
	d.waitFor("init-never to fail", 60*time.Second, func() (bool, error) {
		return d.pod("default", "init-never").Status.Phase == corev1.PodFailed, nil
	})
	if row := d.sameRow("default", "init-never"); row[2] != "Init:Error" {
		t.Errorf("row %q", row)
	}
	pod = d.pod("default", "init-never")
	app := pod.Status.ContainerStatuses[0]
	if app.ContainerID != "" || app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
		t.Errorf("the app container of a pod whose init failed under Never: %+v", app)
	}
	for _, e := range d.events("default", "init-never") {
		if strings.HasPrefix(e, "app: ") {
			t.Errorf("the app container was touched: %s", e)
		}
	}
}

const sidecarJob = `apiVersion: v1
kind: Pod
metadata:
  name: job
spec:
  restartPolicy: OnFailure
  initContainers:
  - name: proxy
    image: busybox
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: ["sh", "-c", "trap 'echo proxy stopping; exit 0' TERM; echo proxy up; while true; do sleep 0.1; done"]
    startupProbe:
      exec: {command: ["true"]}
      periodSeconds: 1
  - name: logger
    image: busybox
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: ["sh", "-c", "trap 'echo logger stopping; exit 0' TERM; echo logger up; while true; do sleep 0.1; done"]
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 3; echo main done"]
`

// TestSidecars: native sidecars start before the main container, count in
// READY (3/3), keep running while it runs, and once it exits 0 under
// OnFailure are stopped after it, the later sidecar first; the pod
// succeeds (Completed).
func TestSidecars(t *testing.T) {
	d := startDaemon(t)
	w := d.watchRows("1.33", "default", "job")
	ready := map[string][]string{}
	d.mustKubectl("1.33", sidecarJob, "apply", "-f", "-")
	d.waitFor("the job to succeed", 60*time.Second, func() (bool, error) {
		for _, v := range []string{"1.27", "1.33"} {
			if row := d.podRow(v, "default", "job"); len(row) > 1 {
				ready[v] = append(ready[v], row[1])
			}
		}
		return d.pod("default", "job").Status.Phase == corev1.PodSucceeded, nil
	})
	statuses := w.stop()
	if !slices.Contains(ready["1.27"], "3/3") || !slices.Contains(ready["1.33"], "3/3") || !hasSubsequence(statuses, []string{"Running", "Completed"}) {
		t.Errorf("READY %q, STATUS %q", ready, statuses)
	}
	if row := d.sameRow("default", "job"); row[2] != "Completed" {
		t.Errorf("row %q", row)
	}
	// The stop order, from the log timestamps: main ends, then logger
	// (the later sidecar), then proxy.
	at := func(container, line string) time.Time {
		t.Helper()
		out := d.mustKubectl("1.33", "", "logs", "job", "-c", container, "--timestamps")
		for _, l := range strings.Split(out, "\n") {
			if ts, text, ok := strings.Cut(l, " "); ok && text == line {
				when, err := time.Parse(time.RFC3339Nano, ts)
				if err != nil {
					t.Fatal(err)
				}
				return when
			}
		}
		t.Fatalf("%s did not log %q:\n%s", container, line, out)
		return time.Time{}
	}
	main, logger, proxy := at("main", "main done"), at("logger", "logger stopping"), at("proxy", "proxy stopping")
	if !main.Before(logger) || !logger.Before(proxy) {
		t.Errorf("stopped at main %s, logger %s, proxy %s; want that order", main, logger, proxy)
	}
	pod := d.pod("default", "job")
	for _, cs := range pod.Status.InitContainerStatuses {
		if cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			t.Errorf("sidecar %+v", cs)
		}
	}
}

const statusPods = `apiVersion: v1
kind: Pod
metadata:
  name: creating
spec:
  volumes:
  - name: cfg
    configMap: {name: not-there-yet}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    volumeMounts: [{name: cfg, mountPath: /cfg}]
---
apiVersion: v1
kind: Pod
metadata:
  name: crashing
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exit 1"]
---
apiVersion: v1
kind: Pod
metadata:
  name: oom
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "dd if=/dev/zero of=/dev/null bs=64M count=1"]
    resources:
      limits: {memory: 16Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: failed
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "exit 2"]
---
apiVersion: v1
kind: Pod
metadata:
  name: done
spec:
  restartPolicy: OnFailure
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["true"]
`

// TestStatusColumn: the STATUS of pods waiting for a volume, crash
// looping, OOM-killed, failed and completed, the same string under kubectl
// 1.27 and 1.33.
func TestStatusColumn(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", statusPods, "apply", "-f", "-")
	for name, want := range map[string]string{
		"creating": "ContainerCreating", "crashing": "CrashLoopBackOff", "oom": "OOMKilled", "failed": "Error", "done": "Completed",
	} {
		d.waitFor(name+" to show "+want, 60*time.Second, func() (bool, error) {
			row := d.podRow("1.33", "default", name)
			return len(row) > 2 && row[2] == want, nil
		})
		if row := d.sameRow("default", name); row[2] != want {
			t.Errorf("%s: %q", name, row)
		}
	}
	containsAll(t, "crashing's events", d.events("default", "crashing"),
		"app: BackOff: Back-off restarting failed container app in pod crashing_default("+string(d.pod("default", "crashing").UID)+")")
}

const sandboxPod = `apiVersion: v1
kind: Pod
metadata:
  name: phoenix
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  initContainers:
  - name: init
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo init >> /out/runs"]
    volumeMounts: [{name: out, mountPath: /out}]
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; echo app >> /out/runs; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
`

// pausePID returns the process id of the pause process of the pod with
// this UID (its command line starts with /pause and it lives in the
// pod's cgroup), or 0.
func pausePID(uid string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(cmdline), "/pause\x00") {
			continue
		}
		cg, err := os.ReadFile(filepath.Join(filepath.Dir(p), "cgroup"))
		if err != nil || !strings.Contains(string(cg), "/pod"+uid+"/") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		return pid
	}
	return 0
}

// TestSandboxDies: when a pod's pause process is killed from the node, the
// kubelet notices the sandbox is gone, says so (SandboxChanged), kills
// what is left, makes a new sandbox and runs the init containers again
// before the app container, and the pod is Running again.
func TestSandboxDies(t *testing.T) {
	d := startDaemon(t)
	out := t.TempDir()
	d.mustKubectl("1.33", strings.ReplaceAll(sandboxPod, "OUT", out), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "phoenix", "1/1")
	uid := string(d.pod("default", "phoenix").UID)
	runs := func() string {
		b, _ := os.ReadFile(filepath.Join(out, "runs"))
		return strings.Join(strings.Fields(string(b)), " ")
	}
	d.waitFor("the app container to start", 30*time.Second, func() (bool, error) { return runs() == "init app", nil })
	pause := pausePID(uid)
	if pause == 0 {
		t.Fatalf("no pause process in the cgroup of pod %s", uid)
	}
	if err := syscall.Kill(pause, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.waitFor("a SandboxChanged event", 60*time.Second, func() (bool, error) {
		return slices.Contains(d.events("default", "phoenix"), "SandboxChanged: Pod sandbox changed, it will be killed and re-created."), nil
	})
	d.waitFor("init and app to run again", 60*time.Second, func() (bool, error) { return runs() == "init app init app", nil })
	d.waitRunning("1.27", "default", "phoenix", "1/1")
	row := d.sameRow("default", "phoenix")
	if again := pausePID(uid); again == 0 || again == pause {
		t.Errorf("pause process after the sandbox died: %d (was %d)", again, pause)
	}
	p := d.pod("default", "phoenix")
	if len(p.Status.InitContainerStatuses) != 1 || p.Status.InitContainerStatuses[0].State.Terminated == nil || p.Status.InitContainerStatuses[0].State.Terminated.Reason != "Completed" {
		t.Errorf("init container status after the new sandbox: %+v", p.Status.InitContainerStatuses)
	}
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].RestartCount != 1 {
		t.Errorf("app container status after the new sandbox: %+v (row %q)", p.Status.ContainerStatuses, row)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "phoenix")
}
