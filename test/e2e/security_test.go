package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSecurityContextAndHostPorts asserts from inside containers what an
// unprivileged one may not do (mount, write /proc/sys, read masked
// paths; it holds exactly the default capabilities, runs under seccomp,
// and with no_new_privs when it gives up privilege escalation) and what a
// privileged one may (host devices, mounts, no filter); and that a
// hostPort is published on 127.0.0.1 and the node address, nothing is
// published without one, and a second pod asking for the same hostPort
// stays Pending with kube-scheduler's message.
func TestSecurityContextAndHostPorts(t *testing.T) {
	d := startDaemon(t)
	// Host ports.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hostPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	web := func(name string, hostPort int) string {
		ports := "[{containerPort: 8080}]"
		if hostPort > 0 {
			ports = fmt.Sprintf("[{containerPort: 8080, hostPort: %d}]", hostPort)
		}
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  containers:
  - {name: web, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, "mkdir /www && echo %s > /www/index.html && exec httpd -f -p 8080 -h /www"], ports: %s}
`, name, name, ports)
	}
	d.mustKubectl("1.33", web("published", hostPort), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "published", "1/1")
	fp := d.capture(t, "default", "published")
	d.mustKubectl("1.33", web("unpublished", 0), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "unpublished", "1/1")
	node, err := d.client.CoreV1().Nodes().Get(context.Background(), nodeName(t, d), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var nodeIP string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			nodeIP = a.Address
		}
	}
	get := func(addr string) string {
		c := http.Client{Timeout: 2 * time.Second}
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return "error: " + err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(b))
	}
	for _, host := range []string{"127.0.0.1", nodeIP} {
		addr := net.JoinHostPort(host, fmt.Sprint(hostPort))
		var got string
		d.waitFor("the hostPort on "+addr, 30*time.Second, func() (bool, error) {
			got = get(addr)
			return got == "published", nil
		})
	}
	if p := d.pod("default", "unpublished"); get(net.JoinHostPort(nodeIP, "8080")) == "unpublished" || p.Status.PodIP == "" {
		t.Errorf("a containerPort without hostPort is published on the node")
	} else if got := get(net.JoinHostPort(p.Status.PodIP, "8080")); got != "unpublished" {
		t.Errorf("the pod's own port: %q", got)
	}
	d.mustKubectl("1.27", web("clash", hostPort), "apply", "-f", "-")
	d.waitFor("the clashing pod to be unschedulable", 30*time.Second, func() (bool, error) {
		for _, c := range d.pod("default", "clash").Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == "Unschedulable" &&
				c.Message == "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports." {
				return true, nil
			}
		}
		return false, nil
	})
	if row := d.podRow("1.27", "default", "clash"); len(row) < 3 || row[2] != "Pending" {
		t.Errorf("kubectl get pod clash: %v", row)
	}
	// Ports are free again once the pod holding them is gone.
	d.mustKubectl("1.33", "", "delete", "pod", "published", "--grace-period=1")
	d.check(t, fp)
	d.waitRunning("1.33", "default", "clash", "1/1")

	const script = `grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; mkdir -p /tmp/m; mount -t tmpfs t /tmp/m 2>/dev/null && echo mount-ok || echo mount-refused;
echo "kcore=$(head -c 16 /proc/kcore 2>/dev/null | wc -c)"; (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo procsys-rw || echo procsys-ro;
test -e /dev/kmsg && echo kmsg-seen || echo kmsg-absent`
	pod := func(name, sc string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n"+
			"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, %q], securityContext: %s}]\n", name, script, sc)
	}
	d.mustKubectl("1.33", pod("plain", "{allowPrivilegeEscalation: false}"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("priv", "{privileged: true}"), "apply", "-f", "-")
	for name, want := range map[string][]string{
		// 0xa80425fb is the default set: CHOWN DAC_OVERRIDE FOWNER FSETID
		// KILL SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT
		// MKNOD AUDIT_WRITE SETFCAP.
		"plain": {"CapEff:\t00000000a80425fb", "Seccomp:\t2", "NoNewPrivs:\t1", "mount-refused", "kcore=0", "procsys-ro", "kmsg-absent"},
		"priv":  {"Seccomp:\t0", "NoNewPrivs:\t0", "mount-ok", "procsys-rw", "kmsg-seen"},
	} {
		out := d.succeededLogs(name)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, out)
			}
		}
	}
}

// nodeName is the name of the daemon's node.
func nodeName(t *testing.T, d *daemon) string {
	t.Helper()
	nodes, err := d.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	return nodes.Items[0].Name
}

// TestHostNamespaces: hostPID and hostIPC put the pod in the node's PID
// and IPC namespaces, and a host-network pod's ports must be host ports.
func TestHostNamespaces(t *testing.T) {
	d := startDaemon(t)
	var hostPID, hostIPC syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/pid", &hostPID); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat("/proc/self/ns/ipc", &hostIPC); err != nil {
		t.Fatal(err)
	}
	const script = "stat -L -c 'pid %i' /proc/self/ns/pid; stat -L -c 'ipc %i' /proc/self/ns/ipc"
	pod := func(name, spec string) string {
		return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n%s"+
			"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, %q]}]\n", name, spec, script)
	}
	d.mustKubectl("1.33", pod("hostns", "  hostPID: true\n  hostIPC: true\n"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("podns", ""), "apply", "-f", "-")
	out := map[string]string{}
	for _, name := range []string{"hostns", "podns"} {
		out[name] = d.succeededLogs(name)
	}
	host := fmt.Sprintf("pid %d\nipc %d\n", hostPID.Ino, hostIPC.Ino)
	if out["hostns"] != host {
		t.Errorf("hostPID/hostIPC pod: %q, want the node's %q", out["hostns"], host)
	}
	for _, line := range strings.Split(strings.TrimSpace(out["podns"]), "\n") {
		if strings.Contains(host, line+"\n") {
			t.Errorf("a pod without host namespaces shares the node's: %q", line)
		}
	}
	_, errOut, err := d.kubectl("1.33", "apiVersion: v1\nkind: Pod\nmetadata: {name: hn}\nspec:\n  hostNetwork: true\n"+
		"  containers: [{name: c, image: busybox, ports: [{containerPort: 80, hostPort: 8080}]}]\n", "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "spec.containers[0].ports[0].containerPort: Invalid value: 80: must match `hostPort` when `hostNetwork` is true") {
		t.Errorf("host-network pod with a different hostPort: %v\n%s", err, errOut)
	}
}
