package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

const probePods = `apiVersion: v1
kind: Pod
metadata:
  name: live
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    livenessProbe:
      exec: {command: ["sh", "-c", "exit 1"]}
      periodSeconds: 1
      failureThreshold: 3
      terminationGracePeriodSeconds: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: ready
spec:
  volumes:
  - name: www
    hostPath: {path: WWW, type: Directory}
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports: [{name: http, containerPort: 8080}]
    volumeMounts: [{name: www, mountPath: /www}]
    readinessProbe:
      httpGet: {path: /ready.txt, port: http}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: slow
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "sleep 4; touch /tmp/started; sleep 3600"]
    startupProbe:
      exec: {command: ["cat", "/tmp/started"]}
      periodSeconds: 1
      failureThreshold: 20
    livenessProbe:
      exec: {command: ["cat", "/tmp/started"]}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Pod
metadata:
  name: tcp
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    readinessProbe:
      tcpSocket: {port: 9999}
      periodSeconds: 1
  - name: idle
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
  - name: done
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["true"]
---
apiVersion: v1
kind: Pod
metadata:
  name: grpc
spec:
  containers:
  - name: up
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["grpchealth", "9000"]
    readinessProbe:
      grpc: {port: 9000}
      periodSeconds: 1
  - name: down
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["grpchealth", "9001"]
    readinessProbe:
      grpc: {port: 9001, service: down}
      periodSeconds: 1
`

// TestProbes: a failing liveness probe kills the container with upstream's
// events and it restarts; a readiness httpGet probe flips READY without
// restarts; a startup probe holds liveness back until it succeeds; a
// tcpSocket probe on a closed port keeps the pod NotReady (next to a
// completed container); grpc probes against a health server in the image.
func TestProbes(t *testing.T) {
	d := startDaemon(t)
	www := t.TempDir()
	d.mustKubectl("1.33", strings.ReplaceAll(probePods, "WWW", www), "apply", "-f", "-")

	// Liveness: three failures a second apart, a kill, a restart.
	d.waitFor("the liveness restart", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "live")
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1, nil
	})
	containsAll(t, "live's events", d.events("default", "live"),
		"app: Killing: Container app failed liveness probe, will be restarted",
		"app: Unhealthy: Liveness probe failed: ")
	if out := d.mustKubectl("1.33", "", "describe", "pod", "live"); !regexp.MustCompile(`Unhealthy\s+\S+ \(x[0-9]+ over \S+\)\s+kubelet\s+Liveness probe failed:`).MatchString(out) {
		t.Errorf("describe does not aggregate the Unhealthy events:\n%s", out)
	}
	for _, v := range []string{"1.27", "1.33"} {
		if out := d.mustKubectl(v, "", "get", "pod", "live", "--no-headers"); !regexp.MustCompile(`^live\s+\S+\s+\S+\s+[1-9][0-9]* \([0-9]+s ago\)\s`).MatchString(out) {
			t.Errorf("kubectl %s RESTARTS column: %q", v, out)
		}
	}
	cs := d.pod("default", "live").Status.ContainerStatuses[0]
	if cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 137 {
		t.Errorf("the killed instance: %+v", cs.LastTerminationState)
	}

	// Readiness over HTTP, by port name: not ready until the file is
	// served, ready, not ready again; never restarted.
	d.waitFor("ready to run", 60*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "ready")
		return len(row) > 2 && row[1] == "0/1" && row[2] == "Running", nil
	})
	if err := os.WriteFile(filepath.Join(www, "ready.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitRunning("1.33", "default", "ready", "1/1")
	if err := os.Remove(filepath.Join(www, "ready.txt")); err != nil {
		t.Fatal(err)
	}
	d.waitFor("ready to turn unready", 30*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "ready")
		return len(row) > 3 && row[1] == "0/1" && row[2] == "Running" && row[3] == "0", nil
	})
	d.sameRow("default", "ready")
	containsAll(t, "ready's events", d.events("default", "ready"), "web: Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 404")
	for _, c := range d.pod("default", "ready").Status.Conditions {
		if (c.Type == corev1.PodReady || c.Type == corev1.ContainersReady) && (c.Status != corev1.ConditionFalse || c.Message != "containers with unready status: [web]") {
			t.Errorf("condition %+v", c)
		}
	}

	// Startup holds liveness back: no restart although liveness checks
	// the same file, which appears after 4 s.
	d.waitRunning("1.33", "default", "slow", "1/1")
	slow := d.pod("default", "slow").Status.ContainerStatuses[0]
	if slow.RestartCount != 0 || slow.Started == nil || !*slow.Started {
		t.Errorf("slow %+v", slow)
	}
	for _, e := range d.events("default", "slow") {
		if strings.Contains(e, "Liveness") || strings.Contains(e, "Killing") {
			t.Errorf("liveness ran before the startup probe passed: %s", e)
		}
	}
	containsAll(t, "slow's events", d.events("default", "slow"), "app: Unhealthy: Startup probe failed: cat: can't open '/tmp/started': No such file or directory\n")

	// tcpSocket on a closed port: the container is never ready; next to
	// a completed and a ready one the pod is NotReady (the same under
	// both kubectls).
	d.waitFor("tcp to be NotReady", 30*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "tcp")
		return len(row) > 2 && row[2] == "NotReady", nil
	})
	if row := d.sameRow("default", "tcp"); row[1] != "1/3" {
		t.Errorf("tcp row %q", row)
	}
	ip := d.pod("default", "tcp").Status.PodIP
	containsAll(t, "tcp's events", d.events("default", "tcp"), "app: Unhealthy: Readiness probe failed: dial tcp "+ip+":9999: connect: connection refused")

	// grpc: SERVING is ready, NOT_SERVING is not.
	d.waitFor("grpc's first container to be ready", 30*time.Second, func() (bool, error) {
		p := d.pod("default", "grpc")
		return len(p.Status.ContainerStatuses) == 2 && p.Status.ContainerStatuses[1].Ready != p.Status.ContainerStatuses[0].Ready, nil
	})
	p := d.pod("default", "grpc")
	idx := slices.IndexFunc(p.Status.ContainerStatuses, func(cs corev1.ContainerStatus) bool { return cs.Name == "up" })
	if !p.Status.ContainerStatuses[idx].Ready || p.Status.ContainerStatuses[1-idx].Ready {
		t.Errorf("grpc readiness %+v", p.Status.ContainerStatuses)
	}
	if row := d.sameRow("default", "grpc"); row[1] != "1/2" || row[2] != "Running" {
		t.Errorf("grpc row %q", row)
	}
	containsAll(t, "grpc's events", d.events("default", "grpc"), `down: Unhealthy: Readiness probe failed: service unhealthy (responded with "NOT_SERVING")`)
}
