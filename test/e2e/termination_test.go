package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/testimage"
)

const terminationPods = `apiVersion: v1
kind: Pod
metadata:
  name: hooked
spec:
  terminationGracePeriodSeconds: 10
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; echo started >> /out/log; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo poststart >> /out/log"]}
      preStop:
        exec: {command: ["sh", "-c", "echo prestop >> /out/log; sleep 1"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: stubborn
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: polite
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: signal
spec:
  os: {name: linux}
  terminationGracePeriodSeconds: 30
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo usr1 > /out/signal; exit 0' USR1; trap '' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      stopSignal: SIGUSR1
---
apiVersion: v1
kind: Pod
metadata:
  name: forced
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3579"]
`

// TestTermination: preStop runs before the stop signal (after postStart
// at start); a process that ignores SIGTERM is killed when the grace
// period ends, one that exits on it ends at once; a pod being deleted
// shows Terminating; a second delete can only shorten the grace; a forced
// deletion prints upstream's warning and still stops the containers.
func TestTermination(t *testing.T) {
	d := startDaemon(t)
	out := t.TempDir()
	d.mustKubectl("1.33", strings.ReplaceAll(terminationPods, "OUT", out), "apply", "-f", "-")
	for _, name := range []string{"hooked", "stubborn", "polite", "signal", "forced"} {
		d.waitRunning("1.33", "default", name, "1/1")
	}

	// lifecycle.stopSignal replaces SIGTERM, and the status says which
	// signal stops each container.
	for name, want := range map[string]corev1.Signal{"signal": "SIGUSR1", "polite": "SIGTERM"} {
		if cs := d.pod("default", name).Status.ContainerStatuses[0]; cs.StopSignal == nil || *cs.StopSignal != want {
			t.Errorf("%s: stopSignal %v, want %s", name, cs.StopSignal, want)
		}
	}
	start := time.Now()
	d.mustKubectl("1.33", "", "delete", "pod", "signal")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a container stopped by SIGUSR1, which it handles, took %s to go", took)
	}
	if sig, _ := os.ReadFile(filepath.Join(out, "signal")); string(sig) != "usr1\n" {
		t.Errorf("the container got %q", sig)
	}

	d.mustKubectl("1.33", "", "delete", "pod", "hooked")
	log, _ := os.ReadFile(filepath.Join(out, "log"))
	if got := strings.Fields(string(log)); strings.Join(got, " ") != "started poststart prestop term" && strings.Join(got, " ") != "poststart started prestop term" {
		t.Errorf("hooks and signals in the order %q", got)
	}

	// Terminating while the grace runs, under both kubectls.
	start = time.Now()
	done := make(chan error, 1)
	go func() {
		_, _, err := d.kubectl("1.33", "", "delete", "pod", "stubborn")
		done <- err
	}()
	d.waitFor("stubborn to show Terminating", 10*time.Second, func() (bool, error) {
		row := d.podRow("1.27", "default", "stubborn")
		return len(row) > 2 && row[2] == "Terminating", nil
	})
	if row := d.podRow("1.33", "default", "stubborn"); len(row) < 3 || row[2] != "Terminating" {
		t.Errorf("kubectl 1.33 shows %q, want Terminating", row)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*time.Second || took > 4*time.Second {
		t.Errorf("a container ignoring SIGTERM with a 3 s grace period took %s to go", took)
	}

	start = time.Now()
	d.mustKubectl("1.33", "", "delete", "pod", "polite")
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a container that exits on SIGTERM took %s to go (grace 30 s)", took)
	}

	// A second delete may only shorten the grace period.
	ctx := context.Background()
	d.mustKubectl("1.33", strings.ReplaceAll(terminationPods, "OUT", out), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "stubborn", "1/1")
	long, short := int64(60), int64(2)
	if err := d.client.CoreV1().Pods("default").Delete(ctx, "stubborn", metav1.DeleteOptions{GracePeriodSeconds: &short}); err != nil {
		t.Fatal(err)
	}
	if err := d.client.CoreV1().Pods("default").Delete(ctx, "stubborn", metav1.DeleteOptions{GracePeriodSeconds: &long}); err != nil {
		t.Fatal(err)
	}
	p, err := d.client.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the pod, 2 s into a 2 s grace period: %v", err)
	}
	if g := p.DeletionGracePeriodSeconds; g == nil || *g != 2 {
		t.Errorf("a longer second grace period replaced the first: %v", g)
	}

	// kubectl delete --grace-period=N replaces the pod's 3 s, and --now
	// asks for 1 s (the runtime still gives at least 2 s), under kubectl
	// 1.27 and 1.33.
	d.waitFor("stubborn to go", 10*time.Second, func() (bool, error) {
		_, err := d.client.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	var stubborn string
	for _, doc := range strings.Split(terminationPods, "---\n") {
		if strings.Contains(doc, "name: stubborn\n") {
			stubborn = doc
		}
	}
	for _, tc := range []struct {
		kubectl   string
		flag      string
		grace     int64
		min, most time.Duration
	}{
		{"1.27", "--grace-period=6", 6, 5 * time.Second, 8 * time.Second},
		{"1.33", "--now", 1, 1500 * time.Millisecond, 4 * time.Second},
	} {
		d.mustKubectl(tc.kubectl, stubborn, "apply", "-f", "-")
		d.waitRunning(tc.kubectl, "default", "stubborn", "1/1")
		start := time.Now()
		d.mustKubectl(tc.kubectl, "", "delete", "pod", "stubborn", tc.flag, "--wait=false")
		p, err := d.client.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if g := p.DeletionGracePeriodSeconds; g == nil || *g != tc.grace {
			t.Errorf("kubectl %s delete %s: deletionGracePeriodSeconds %v, want %d", tc.kubectl, tc.flag, g, tc.grace)
		}
		d.waitFor("stubborn to go", 15*time.Second, func() (bool, error) {
			_, err := d.client.CoreV1().Pods("default").Get(ctx, "stubborn", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		if took := time.Since(start); took < tc.min || took > tc.most {
			t.Errorf("kubectl %s delete %s: a container ignoring SIGTERM took %s to go, want %s to %s", tc.kubectl, tc.flag, took, tc.min, tc.most)
		}
	}

	// Forced: the object goes at once, the processes right after, under
	// kubectl 1.33 and 1.27.
	var forced string
	for _, doc := range strings.Split(terminationPods, "---\n") {
		if strings.Contains(doc, "name: forced\n") {
			forced = doc
		}
	}
	for _, v := range []string{"1.33", "1.27"} {
		if v != "1.33" {
			d.mustKubectl(v, forced, "apply", "-f", "-")
			d.waitRunning(v, "default", "forced", "1/1")
		}
		if !processRunning("sleep 3579") {
			t.Fatalf("kubectl %s: the forced pod's process does not run before the deletion", v)
		}
		stdout, stderr, err := d.kubectl(v, "", "delete", "pod", "forced", "--grace-period=0", "--force")
		if err != nil || !strings.Contains(stderr, "Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.") ||
			!strings.Contains(stdout, `pod "forced" force deleted`) {
			t.Errorf("kubectl %s forced deletion: %v\n%s\n%s", v, err, stdout, stderr)
		}
		if _, err := d.client.CoreV1().Pods("default").Get(ctx, "forced", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("kubectl %s: the pod is still there right after a forced deletion: %v", v, err)
		}
		d.waitFor("the forced pod's processes to go", 15*time.Second, func() (bool, error) {
			return !processRunning("sleep 3579"), nil
		})
	}
}

// processRunning reports whether a process with this command line runs.
func processRunning(cmdline string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && strings.ReplaceAll(strings.TrimRight(string(data), "\x00"), "\x00", " ") == cmdline {
			return true
		}
	}
	return false
}

const deadlinePods = `apiVersion: v1
kind: Pod
metadata:
  name: deadline
spec:
  activeDeadlineSeconds: 2
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: message
spec:
  restartPolicy: Never
  containers:
  - name: file
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo 'it went wrong' > /dev/termination-log; exit 3"]
  - name: logs
    image: busybox
    imagePullPolicy: IfNotPresent
    terminationMessagePolicy: FallbackToLogsOnError
    command: ["sh", "-c", "echo starting; echo last words; exit 4"]
  - name: custom
    image: busybox
    imagePullPolicy: IfNotPresent
    terminationMessagePath: /tmp/why
    command: ["sh", "-c", "echo done here > /tmp/why"]
`

// TestDeadlineAndTerminationMessages: activeDeadlineSeconds fails the pod
// (DeadlineExceeded) and stops it; termination messages come from the
// file (at the default or a custom path) or, with FallbackToLogsOnError
// and a failure, from the log's tail.
func TestDeadlineAndTerminationMessages(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", deadlinePods, "apply", "-f", "-")
	d.waitFor("the deadline pod to fail", 30*time.Second, func() (bool, error) {
		return d.pod("default", "deadline").Status.Phase == corev1.PodFailed, nil
	})
	p := d.pod("default", "deadline")
	if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("status %+v", p.Status)
	}
	d.waitFor("its container to stop", 30*time.Second, func() (bool, error) {
		cs := d.pod("default", "deadline").Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Terminated != nil, nil
	})
	containsAll(t, "deadline's events", d.events("default", "deadline"), "DeadlineExceeded: Pod was active on the node longer than the specified deadline")

	d.waitFor("the message pod to fail", 30*time.Second, func() (bool, error) {
		return d.pod("default", "message").Status.Phase == corev1.PodFailed, nil
	})
	want := map[string]string{"file": "it went wrong\n", "logs": "starting\nlast words\n", "custom": "done here\n"}
	for _, cs := range d.pod("default", "message").Status.ContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.Message != want[cs.Name] {
			t.Errorf("%s: %+v, want message %q", cs.Name, cs.State, want[cs.Name])
		}
	}
	if row := d.sameRow("default", "message"); row[2] != "Error" {
		t.Errorf("row %q", row)
	}
}

const hookPods = `apiVersion: v1
kind: Pod
metadata:
  name: poststart
spec:
  terminationGracePeriodSeconds: 2
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; echo started >> /out/poststart; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
    lifecycle:
      postStart:
        exec: {command: ["sh", "-c", "echo hook output; exit 3"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: prestop-sleep
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      preStop:
        sleep: {seconds: 3}
---
apiVersion: v1
kind: Pod
metadata:
  name: prestop-http
spec:
  terminationGracePeriodSeconds: 30
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      printf '#!/bin/sh\necho "$REQUEST_METHOD $REQUEST_URI $HTTP_USER_AGENT" >> /out/http\necho "Content-Type: text/plain"\necho\necho ok\n' > /www/cgi-bin/hook
      chmod +x /www/cgi-bin/hook
      httpd -p 8080 -h /www
      trap 'echo term >> /out/http; exit 0' TERM
      while true; do sleep 0.1; done
    volumeMounts: [{name: out, mountPath: /out}]
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
    lifecycle:
      preStop:
        httpGet: {path: "/cgi-bin/hook?from=prestop", port: 8080}
`

// TestHooks: lifecycle hooks as a user sees them. A failing postStart
// exec hook gets the container killed (and restarted), with a
// FailedPostStartHook warning and the PostStartHookError waiting reason
// carrying the hook's output; a preStop sleep hook holds the stop signal
// back for its seconds; a preStop httpGet reaches a server in the pod
// (which records the request) before the stop signal.
func TestHooks(t *testing.T) {
	d := startDaemon(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Every waiting message of the postStart pod's container, as written.
	wch, err := d.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=poststart"})
	if err != nil {
		t.Fatal(err)
	}
	hookError := make(chan string, 1)
	go func() {
		defer wch.Stop()
		for ev := range wch.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason == "PostStartHookError" {
					hookError <- w.Message
					return
				}
			}
		}
	}()
	rows := map[string]*statusWatch{"1.27": d.watchRows("1.27", "default", "poststart"), "1.33": d.watchRows("1.33", "default", "poststart")}
	d.mustKubectl("1.33", strings.ReplaceAll(hookPods, "OUT", out), "apply", "-f", "-")

	// postStart fails: killed, PostStartHookError with the output, then
	// started again.
	select {
	case msg := <-hookError:
		for _, want := range []string{
			`Exec lifecycle hook ([sh -c echo hook output; exit 3]) for Container "app" in Pod "poststart_default(`,
			`failed - error: command 'sh -c echo hook output; exit 3' exited with 3: , message: "hook output\n"`,
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("PostStartHookError message %q lacks %q", msg, want)
			}
		}
	case <-ctx.Done():
		t.Fatal("no PostStartHookError waiting state")
	}
	d.waitFor("the postStart container to be restarted", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "poststart")
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1, nil
	})
	if log, _ := os.ReadFile(filepath.Join(out, "poststart")); strings.Count(string(log), "started\n") < 2 {
		t.Errorf("the container started %q, want at least twice (killed after its hook failed)", log)
	}
	for v, w := range rows {
		if seen := w.stop(); !slices.Contains(seen, "PostStartHookError") {
			t.Errorf("kubectl %s get -w never showed PostStartHookError: %q", v, seen)
		}
	}
	containsAll(t, "events", d.events("default", "poststart"),
		"app: FailedPostStartHook: PostStartHook failed", "app: Killing: FailedPostStartHook")
	for _, v := range []string{"1.27", "1.33"} {
		desc := d.mustKubectl(v, "", "describe", "pod", "poststart")
		if !regexp.MustCompile(`Warning\s+FailedPostStartHook\s+.*PostStartHook failed`).MatchString(desc) {
			t.Errorf("kubectl %s describe shows no FailedPostStartHook warning:\n%s", v, desc)
		}
	}

	// preStop sleep: the container, which exits on SIGTERM, goes after
	// the sleep.
	d.waitRunning("1.27", "default", "prestop-sleep", "1/1")
	start := time.Now()
	d.mustKubectl("1.27", "", "delete", "pod", "prestop-sleep")
	if took := time.Since(start); took < 3*time.Second || took > 5*time.Second {
		t.Errorf("a preStop sleep of 3 s before a SIGTERM the container exits on: deleted in %s", took)
	}

	// preStop httpGet: the server in the pod got the request, from the
	// kubelet, before the stop signal.
	d.waitRunning("1.33", "default", "prestop-http", "1/1")
	d.mustKubectl("1.33", "", "delete", "pod", "prestop-http")
	log, _ := os.ReadFile(filepath.Join(out, "http"))
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "GET /cgi-bin/hook?from=prestop kube-lifecycle/1.") || lines[1] != "term" {
		t.Errorf("the server in the pod recorded %q, want the preStop GET (kube-lifecycle user agent), then the SIGTERM", lines)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "poststart")
}

const stopSignalPod = `apiVersion: v1
kind: Pod
metadata:
  name: quitter
spec:
  terminationGracePeriodSeconds: 60
  volumes:
  - name: out
    hostPath: {path: OUT, type: Directory}
  containers:
  - name: app
    image: busybox:stopsignal
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap 'echo quit > /out/signal; exit 0' QUIT; trap '' TERM; while true; do sleep 0.1; done"]
    volumeMounts: [{name: out, mountPath: /out}]
`

// TestImageStopSignal: an image's STOPSIGNAL stops its containers instead
// of SIGTERM: a container that ignores SIGTERM and exits on SIGQUIT, from
// an image whose STOPSIGNAL is SIGQUIT, goes at once despite a 60 s grace
// period, and its status names the signal.
func TestImageStopSignal(t *testing.T) {
	busybox, err := testimage.FetchBusybox(context.Background(), testimage.DefaultCacheDir())
	if err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "stopsignal.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.BusyboxImage(f, busybox, "docker.io/library/busybox:stopsignal", nil, testimage.WithStopSignal("SIGQUIT")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t)
	if out, err := exec.Command(peapodBin, "image", "import", "--data-dir", d.path("data"), tarPath).CombinedOutput(); err != nil {
		t.Fatalf("importing busybox:stopsignal: %v\n%s", err, out)
	}
	out := t.TempDir()
	d.mustKubectl("1.27", strings.ReplaceAll(stopSignalPod, "OUT", out), "apply", "-f", "-")
	d.waitRunning("1.27", "default", "quitter", "1/1")
	if cs := d.pod("default", "quitter").Status.ContainerStatuses; len(cs) != 1 || cs[0].StopSignal == nil || *cs[0].StopSignal != "SIGQUIT" {
		t.Errorf("container statuses %+v, want stopSignal SIGQUIT", cs)
	}
	start := time.Now()
	d.mustKubectl("1.33", "", "delete", "pod", "quitter")
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a container whose image's STOPSIGNAL (SIGQUIT) it exits on took %s to go (grace 60 s)", took)
	}
	if sig, _ := os.ReadFile(filepath.Join(out, "signal")); string(sig) != "quit\n" {
		t.Errorf("the container got %q, want the image's SIGQUIT", sig)
	}
}

// TestTerminationCutShort: a deletion cuts short what the kubelet is
// waiting on, as the kubelet's pod workers do: a second delete with a
// shorter grace period ends a kill already waiting out a 30 s grace (and
// a --force after it too), and deleting a pod whose postStart hook never
// returns does not wait for the hook. Under kubectl 1.27 and 1.33.
func TestTerminationCutShort(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	const pods = `apiVersion: v1
kind: Pod
metadata:
  name: slow
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]
---
apiVersion: v1
kind: Pod
metadata:
  name: hanging
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3581"]
    lifecycle:
      postStart:
        exec: {command: ["sleep", "3583"]}
`
	gone := func(name string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		d.waitFor(name+" to go", within, func() (bool, error) {
			_, err := d.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
		return time.Since(start)
	}
	for _, tc := range []struct{ first, second string }{{"1.27", "1.33"}, {"1.33", "1.27"}} {
		d.mustKubectl(tc.first, pods, "apply", "-f", "-")
		d.waitRunning(tc.first, "default", "slow", "1/1")

		// The kill waits out the 30 s grace; a second delete with 2 s
		// ends it within about 2 s.
		d.mustKubectl(tc.first, "", "delete", "pod", "slow", "--wait=false")
		d.waitFor("slow to show Terminating", 10*time.Second, func() (bool, error) {
			row := d.podRow(tc.first, "default", "slow")
			return len(row) > 2 && row[2] == "Terminating", nil
		})
		time.Sleep(time.Second) // the kubelet is in the 30 s wait now
		d.mustKubectl(tc.second, "", "delete", "pod", "slow", "--grace-period=2", "--wait=false")
		if took := gone("slow", 20*time.Second); took > 8*time.Second {
			t.Errorf("kubectl %s: a 2 s grace period after a 30 s one took %s", tc.second, took)
		}

		// A postStart hook that never returns: the container runs, the
		// pod is not Running; a delete does not wait for the hook.
		d.waitFor("the hanging pod's container to run", 20*time.Second, func() (bool, error) {
			return processRunning("sleep 3581"), nil
		})
		if p := d.pod("default", "hanging"); p.Status.Phase == corev1.PodRunning {
			t.Errorf("kubectl %s: a pod whose postStart hook has not returned is Running", tc.first)
		}
		d.mustKubectl(tc.second, "", "delete", "pod", "hanging", "--grace-period=2", "--wait=false")
		if took := gone("hanging", 20*time.Second); took > 8*time.Second {
			t.Errorf("kubectl %s: deleting a pod in its postStart hook took %s", tc.second, took)
		}
		if processRunning("sleep 3581") || processRunning("sleep 3583") {
			t.Errorf("kubectl %s: the hanging pod's processes outlive it", tc.second)
		}
	}

	// A forced deletion ends a kill waiting out its grace at once.
	d.mustKubectl("1.33", pods, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "slow", "1/1")
	d.mustKubectl("1.33", "", "delete", "pod", "slow", "--wait=false")
	time.Sleep(time.Second)
	d.mustKubectl("1.27", "", "delete", "pod", "slow", "--grace-period=0", "--force")
	d.waitFor("slow's processes to go", 10*time.Second, func() (bool, error) {
		return !processRunning("sh -c trap '' TERM; while true; do sleep 0.1; done"), nil
	})
	d.mustKubectl("1.33", "", "delete", "pod", "hanging", "--grace-period=0", "--force")
	d.waitFor("hanging's processes to go", 10*time.Second, func() (bool, error) {
		return !processRunning("sleep 3581") && !processRunning("sleep 3583"), nil
	})
}
