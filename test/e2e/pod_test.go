package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// twoContainerPod serves a page from one container and fetches it from the
// other over localhost; both report their namespaces and hostname, and a
// SysV shared-memory segment made by the server must be visible to the
// client.
const twoContainerPod = `apiVersion: v1
kind: Pod
metadata:
  name: %[1]s
  labels:
    app: %[2]s
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: server
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      for n in mnt pid net ipc uts; do echo "ns $n $(readlink /proc/1/ns/$n)"; done
      echo "hostname $(hostname)"
      ipctool create 4242
      mkdir -p /www && echo "page from $(hostname)" > /www/index.html
      trap 'exit 0' TERM
      httpd -f -p 8080 -h /www & wait
  - name: client
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      for n in mnt pid net ipc uts; do echo "ns $n $(readlink /proc/1/ns/$n)"; done
      echo "hostname $(hostname)"
      trap 'exit 0' TERM
      until ipctool lookup 4242; do sleep 0.2; done
      while true; do wget -q -O - http://localhost:8080/ || echo "fetch failed"; sleep 1 & wait; done
`

// logLines returns the lines of a container log with the given prefix.
func logLines(log, prefix string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(log, "\n") {
		if rest, ok := strings.CutPrefix(line, prefix+" "); ok {
			k, v, _ := strings.Cut(rest, " ")
			out[k] = v
		}
	}
	return out
}

func TestTwoContainerPod(t *testing.T) {
	d := startDaemon(t)
	for _, version := range []string{"1.27", "1.33"} {
		t.Run("kubectl-"+version, func(t *testing.T) {
			name := "web-" + strings.ReplaceAll(version, ".", "")
			manifest := fmt.Sprintf(twoContainerPod, name, "web")
			if out := d.mustKubectl(version, manifest, "apply", "-f", "-"); !strings.Contains(out, "pod/"+name+" created") {
				t.Fatalf("apply said %q", out)
			}
			d.waitRunning(version, "default", name, "2/2")

			// Shared network: the client fetched the server's page.
			var clientLog string
			d.waitFor("the client to fetch the page", 30*time.Second, func() (bool, error) {
				clientLog = d.mustKubectl(version, "", "logs", name, "-c", "client")
				return strings.Contains(clientLog, "page from "+name), nil
			})
			serverLog := d.mustKubectl(version, "", "logs", name, "-c", "server")
			// Shared UTS: both see the pod name as hostname.
			for c, log := range map[string]string{"server": serverLog, "client": clientLog} {
				if !strings.Contains(log, "hostname "+name+"\n") {
					t.Errorf("%s does not report hostname %s:\n%s", c, name, log)
				}
			}
			// Shared IPC: the client sees the server's segment.
			if !strings.Contains(clientLog, "shm key 4242 id") {
				t.Errorf("client cannot see the server's shared memory:\n%s", clientLog)
			}
			// Own mount and PID namespaces, shared net/ipc/uts.
			sns, cns := logLines(serverLog, "ns"), logLines(clientLog, "ns")
			for _, n := range []string{"net", "ipc", "uts"} {
				if sns[n] == "" || sns[n] != cns[n] {
					t.Errorf("%s namespace not shared: server %q client %q", n, sns[n], cns[n])
				}
			}
			for _, n := range []string{"mnt", "pid"} {
				if sns[n] == "" || sns[n] == cns[n] {
					t.Errorf("%s namespace shared but should not be: server %q client %q", n, sns[n], cns[n])
				}
			}

			// The host reaches the pod IP.
			pod := d.pod("default", name)
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + pod.Status.PodIP + ":8080/")
			if err != nil {
				t.Fatalf("host cannot reach the pod: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "page from "+name) {
				t.Errorf("pod answered %q", body)
			}

			checkYAML(t, d, version, name)
			checkDescribe(t, d, version, name)
			checkReapplyAndWatch(t, d, version, name)

			fp := d.capture(t, "default", name)
			start := time.Now()
			out := d.mustKubectl(version, "", "delete", "pod", name)
			if !strings.Contains(out, `pod "`+name+`" deleted`) {
				t.Errorf("delete said %q", out)
			}
			if _, err := d.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{}); err == nil {
				t.Errorf("kubectl delete returned after %s but the pod still exists", time.Since(start))
			}
			d.check(t, fp)
		})
	}
}

func checkYAML(t *testing.T, d *daemon, version, name string) {
	t.Helper()
	out := d.mustKubectl(version, "", "get", "pod", name, "-o", "yaml")
	var pod corev1.Pod
	if err := yaml.Unmarshal([]byte(out), &pod); err != nil {
		t.Fatalf("get -o yaml: %v", err)
	}
	st := pod.Status
	if st.PodIP == "" || len(st.PodIPs) == 0 || st.HostIP == "" || st.StartTime == nil {
		t.Errorf("missing IPs or start time: %+v", st)
	}
	if st.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass = %q", st.QOSClass)
	}
	want := map[corev1.PodConditionType]bool{}
	for _, c := range st.Conditions {
		want[c.Type] = c.Status == corev1.ConditionTrue
	}
	for _, c := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled} {
		if !want[c] {
			t.Errorf("condition %s not True in %v", c, st.Conditions)
		}
	}
	if len(st.ContainerStatuses) != 2 {
		t.Fatalf("containerStatuses: %+v", st.ContainerStatuses)
	}
	for _, cs := range st.ContainerStatuses {
		if !strings.HasPrefix(cs.ContainerID, "peapod://") || !strings.Contains(cs.ImageID, "@sha256:") || cs.State.Running == nil ||
			!cs.Ready || cs.Started == nil || !*cs.Started || cs.Image != "docker.io/library/busybox:latest" {
			t.Errorf("container status %+v", cs)
		}
	}
}

func checkDescribe(t *testing.T, d *daemon, version, name string) {
	t.Helper()
	out := d.mustKubectl(version, "", "describe", "pod", name)
	for _, want := range []string{"Status:", "Running", "QoS Class:", "BestEffort", "IP:", "Scheduled", "Started", "Container ID:  peapod://"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
}

// checkReapplyAndWatch applies the manifest again with another label while
// `kubectl get pods -w` runs: the pod is patched in place and the watch
// prints the change.
func checkReapplyAndWatch(t *testing.T, d *daemon, version, name string) {
	t.Helper()
	before := d.pod("default", name)
	cmd := exec.Command(kubectls[version], "get", "pods", "-w", "-l", "app")
	cmd.Env = []string{"KUBECONFIG=" + d.kubeconfig, "HOME=" + d.dir}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The initial list: header and the pod's row.
	seen := 0
	deadline := time.After(30 * time.Second)
	for seen < 2 {
		select {
		case <-lines:
			seen++
		case <-deadline:
			t.Fatal("kubectl get -w printed no initial rows")
		}
	}
	out := d.mustKubectl(version, fmt.Sprintf(twoContainerPod, name, "web-v2"), "apply", "-f", "-")
	if !strings.Contains(out, "pod/"+name+" configured") {
		t.Errorf("second apply said %q", out)
	}
	after := d.pod("default", name)
	if after.UID != before.UID || after.Labels["app"] != "web-v2" {
		t.Errorf("second apply did not patch in place: uid %s -> %s, labels %v", before.UID, after.UID, after.Labels)
	}
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, name) {
			t.Errorf("watch printed %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Error("kubectl get -w printed nothing for the change")
	}
	if rows := d.mustKubectl(version, "", "get", "pods", "--show-labels", "--no-headers"); !strings.Contains(rows, "app=web-v2") {
		t.Errorf("get --show-labels: %s", rows)
	}
}

func TestSharedProcessNamespace(t *testing.T) {
	d := startDaemon(t)
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: shared
spec:
  shareProcessNamespace: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo started; exec sleep 3600"]
  - name: observer
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      until ps | grep -q 'sleep 3600'; do sleep 0.2; done
      ps
      echo pid1=$(tr '\0' ' ' < /proc/1/cmdline)
      # An orphan: its parent subshell exits at once, so it is re-parented
      # to PID 1 (pause), which must reap it when it exits.
      (sleep 0.3 &)
      sleep 1.5
      # Zombies whose parent is pause; the shell's own short-lived
      # children are its business.
      echo zombies=$(ps -o ppid,stat | awk '$1 == 1 && $2 ~ /^Z/' | wc -l)
      exec sleep 3600
`
	d.mustKubectl("1.33", manifest, "apply", "-f", "-")
	var log string
	d.waitFor("the observer to see its sibling", 60*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "logs", "shared", "-c", "observer")
		log = out
		// Line starts only: the ps output above it holds the script,
		// "pid1=" included, before the echo has run.
		return err == nil && strings.Contains(out, "\npid1="), nil
	})
	if !strings.Contains(log, "pid1=/pause -P") {
		t.Errorf("PID 1 is not the pause process:\n%s", log)
	}
	if !strings.Contains(log, "sleep 3600") {
		t.Errorf("the sibling's process is not visible:\n%s", log)
	}
	d.waitFor("the zombie count", 30*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "logs", "shared", "-c", "observer")
		log = out
		// Line starts only: ps above also prints the command itself.
		return err == nil && strings.Contains(out, "\nzombies="), nil
	})
	if !strings.Contains(log, "\nzombies=0\n") {
		t.Errorf("pause did not reap an orphaned child:\n%s", log)
	}
	fp := d.capture(t, "default", "shared")
	d.mustKubectl("1.27", "", "delete", "pod", "shared")
	d.check(t, fp)
}

// TestPodToPodWithoutNAT has one pod fetch a CGI page from another pod's IP
// that echoes the caller's address: it must be the caller's pod IP.
func TestPodToPodWithoutNAT(t *testing.T) {
	d := startDaemon(t)
	server := `apiVersion: v1
kind: Pod
metadata:
  name: echo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "remote=$REMOTE_ADDR"\n' > /www/cgi-bin/ip
      chmod +x /www/cgi-bin/ip
      exec httpd -f -p 8080 -h /www
`
	d.mustKubectl("1.33", server, "apply", "-f", "-")
	var serverIP string
	d.waitFor("the server's IP", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "echo")
		serverIP = p.Status.PodIP
		return p.Status.Phase == corev1.PodRunning && serverIP != "", nil
	})
	client := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: caller
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: wget
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "until wget -q -O - http://%s:8080/cgi-bin/ip; do sleep 0.2; done; exec sleep 3600"]
`, serverIP)
	d.mustKubectl("1.27", client, "apply", "-f", "-")
	var log string
	d.waitFor("the caller's answer", 60*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.27", "", "logs", "caller")
		log = out
		return err == nil && strings.Contains(out, "remote="), nil
	})
	callerIP := d.pod("default", "caller").Status.PodIP
	// busybox httpd shows IPv4 peers in IPv4-mapped IPv6 form.
	if callerIP == "" || !(strings.Contains(log, "remote="+callerIP+"\n") || strings.Contains(log, "remote=[::ffff:"+callerIP+"]\n")) {
		t.Errorf("the server saw %q, the caller's pod IP is %q", strings.TrimSpace(log), callerIP)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "echo", "caller")
}

// TestDaemonRestart restarts peapod under a running pod: the containers
// (kept alive by conmon) are picked up again, an exit while peapod is down
// is noticed, and deletion still cleans up everything.
func TestDaemonRestart(t *testing.T) {
	d := startDaemon(t)
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: survivor
spec:
  terminationGracePeriodSeconds: 2
  restartPolicy: Never
  containers:
  - name: long
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo up; trap 'exit 0' TERM; sleep 3600 & wait"]
  - name: short
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "until [ -e /tmp/go ]; do sleep 0.1; done; exit 7"]
`
	d.mustKubectl("1.33", manifest, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "survivor", "2/2")
	before := d.pod("default", "survivor")
	d.terminate()
	// While peapod is down, the short container exits.
	ctrs, _ := filepath.Glob(d.path("data/runtime/containers/*/merged/tmp"))
	for _, tmp := range ctrs {
		os.WriteFile(filepath.Join(tmp, "go"), nil, 0o644)
	}
	time.Sleep(time.Second)
	d.launch()
	d.waitFor("the exit to show", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "survivor")
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == "short" && cs.State.Terminated != nil {
				return cs.State.Terminated.ExitCode == 7, nil
			}
		}
		return false, nil
	})
	after := d.pod("default", "survivor")
	for i, cs := range after.Status.ContainerStatuses {
		if cs.ContainerID != before.Status.ContainerStatuses[i].ContainerID || cs.RestartCount != 0 {
			t.Errorf("container %s was replaced across the restart: %s -> %s", cs.Name, before.Status.ContainerStatuses[i].ContainerID, cs.ContainerID)
		}
	}
	if after.Status.ContainerStatuses[0].State.Running == nil || after.Status.Phase != corev1.PodRunning {
		t.Errorf("long container not running after the restart: %+v", after.Status)
	}
	if !after.Status.StartTime.Equal(before.Status.StartTime) {
		t.Errorf("startTime changed: %v -> %v", before.Status.StartTime, after.Status.StartTime)
	}
	if out := d.mustKubectl("1.27", "", "logs", "survivor", "-c", "long"); !strings.Contains(out, "up") {
		t.Errorf("logs after restart: %q", out)
	}
	fp := d.capture(t, "default", "survivor")
	d.mustKubectl("1.33", "", "delete", "pod", "survivor")
	d.check(t, fp)
}

// TestHostNetworkPod runs a pod in the node's network namespace: its IP is
// the node's, it sees the node's hostname and /etc/hosts.
func TestHostNetworkPod(t *testing.T) {
	d := startDaemon(t)
	manifest := `apiVersion: v1
kind: Pod
metadata:
  name: hostnet
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo host=$(hostname); head -1 /etc/hosts; exec sleep 3600"]
  # Probes of a host-network pod go to the node's address.
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "mkdir -p /www && echo ok > /www/ok && exec httpd -f -p PORT -h /www"]
    readinessProbe:
      httpGet: {path: /ok, port: PORT}
      periodSeconds: 1
`
	manifest = strings.ReplaceAll(manifest, "PORT", strconv.Itoa(freePorts(t, 1)[0]))
	d.mustKubectl("1.33", manifest, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "hostnet", "2/2")
	pod := d.pod("default", "hostnet")
	if pod.Status.PodIP == "" || pod.Status.PodIP != pod.Status.HostIP {
		t.Errorf("podIP %q, hostIP %q", pod.Status.PodIP, pod.Status.HostIP)
	}
	host, _ := os.Hostname()
	var log string
	d.waitFor("the log", 30*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.27", "", "logs", "hostnet", "-c", "app")
		log = out
		return err == nil && strings.Contains(out, "host="), nil
	})
	if !strings.Contains(log, "host="+host+"\n") || !strings.Contains(log, "# Kubernetes-managed hosts file (host network).") {
		t.Errorf("log:\n%s", log)
	}
	fp := d.capture(t, "default", "hostnet")
	d.mustKubectl("1.33", "", "delete", "pod", "hostnet")
	d.check(t, fp)
}
