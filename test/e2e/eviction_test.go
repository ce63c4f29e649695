package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const evictionPods = `apiVersion: v1
kind: Pod
metadata:
  name: besteffort
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
---
apiVersion: v1
kind: Pod
metadata:
  name: burstable
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources: {requests: {memory: 32Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: guaranteed
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
    resources:
      requests: {memory: 64Mi, cpu: 100m}
      limits: {memory: 64Mi, cpu: 100m}
`

// TestEviction runs a BestEffort, a Burstable and a Guaranteed pod, then
// restarts the daemon with a hard threshold no node can meet: the node
// reports MemoryPressure and is tainted, and the kubelet evicts one pod at
// a time in its order (the BestEffort pod, using more than its zero
// request, first; then the Burstable pod, whose use falls short of its
// request by less than the Guaranteed pod's), each Failed with reason Evicted,
// upstream's message and an Evicted event, without waiting out the
// 30 s grace period. A BestEffort pod bound to the node under pressure is
// refused by the kubelet's admission.
func TestEviction(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", evictionPods, "apply", "-f", "-")
	for _, name := range []string{"besteffort", "burstable", "guaranteed"} {
		d.waitRunning("1.33", "default", name, "1/1")
	}
	d.terminate()
	d.args = append(d.args, "--eviction-hard", "memory.available<1Ti", "--housekeeping-interval", "1s")
	d.launch()
	ctx := context.Background()
	evicted := map[string]time.Time{}
	d.waitFor("every pod to be evicted", 90*time.Second, func() (bool, error) {
		pods, err := d.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, p := range pods.Items {
			if _, seen := evicted[p.Name]; !seen && p.Status.Phase == corev1.PodFailed {
				if p.Status.Reason != "Evicted" || !strings.HasPrefix(p.Status.Message, "The node was low on resource: memory. Threshold quantity: 1Ti, available: ") {
					return false, fmt.Errorf("pod %s failed with %s %q", p.Name, p.Status.Reason, p.Status.Message)
				}
				evicted[p.Name] = time.Now()
			}
		}
		return len(evicted) == 3, nil
	})
	if !(evicted["besteffort"].Before(evicted["burstable"]) && evicted["burstable"].Before(evicted["guaranteed"])) {
		t.Errorf("eviction order: %v", evicted)
	}
	// Once the containers are stopped, their terminated reasons show (as
	// upstream's printer, they win over the pod's Evicted), the same
	// under both kubectls.
	d.waitFor("the evicted pods' containers to stop", 60*time.Second, func() (bool, error) {
		for _, name := range []string{"besteffort", "guaranteed"} {
			if cs := d.pod("default", name).Status.ContainerStatuses; len(cs) != 1 || cs[0].State.Terminated == nil {
				return false, nil
			}
		}
		return true, nil
	})
	// A hard eviction gives no grace: sleep, PID 1 of its container,
	// ignores SIGTERM, so only the kill after the 2 s minimum ends it,
	// long before the pods' 30 s.
	if took := time.Since(evicted["guaranteed"]); took > 15*time.Second {
		t.Errorf("the last evicted pod's container stopped %s after its eviction: its 30 s grace was not overridden", took)
	}
	if row := d.sameRow("default", "besteffort"); row[2] != "Error" {
		t.Errorf("an evicted pod's row: %q", row)
	}
	node, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(node.Items) != 1 {
		t.Fatal(err)
	}
	pressure, tainted := false, false
	for _, c := range node.Items[0].Status.Conditions {
		pressure = pressure || (c.Type == corev1.NodeMemoryPressure && c.Status == corev1.ConditionTrue && c.Reason == "KubeletHasInsufficientMemory")
	}
	for _, tn := range node.Items[0].Spec.Taints {
		tainted = tainted || (tn.Key == "node.kubernetes.io/memory-pressure" && tn.Effect == corev1.TaintEffectNoSchedule)
	}
	if !pressure || !tainted {
		t.Errorf("node under pressure: condition %v, taint %v", pressure, tainted)
	}
	// Under pressure, a BestEffort pod bound here by its author (the
	// scheduler would keep it off for the taint) is refused by the
	// kubelet's admission.
	d.mustKubectl("1.33", fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: latecomer}
spec:
  nodeName: %s
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: ["sleep", "3600"]}
`, node.Items[0].Name), "apply", "-f", "-")
	d.waitFor("latecomer to be refused", 30*time.Second, func() (bool, error) {
		return d.pod("default", "latecomer").Status.Phase == corev1.PodFailed, nil
	})
	if p := d.pod("default", "latecomer"); p.Status.Reason != "Evicted" || p.Status.Message != "Pod was rejected: The node had condition: [MemoryPressure]. " {
		t.Errorf("latecomer: %s %q", p.Status.Reason, p.Status.Message)
	}
	out := d.mustKubectl("1.27", "", "get", "events", "--field-selector", "reason=Evicted", "-o", "jsonpath={.items[*].involvedObject.name}")
	for _, name := range []string{"besteffort", "burstable", "guaranteed"} {
		if !strings.Contains(out, name) {
			t.Errorf("no Evicted event for %s (events for: %s)", name, out)
		}
	}
	// The containers are gone: the pods show no running container.
	d.waitFor("the evicted pods' containers to stop", 30*time.Second, func() (bool, error) {
		for _, name := range []string{"besteffort", "burstable", "guaranteed"} {
			for _, cs := range d.pod("default", name).Status.ContainerStatuses {
				if cs.State.Running != nil {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// TestEmptyDirSizeLimit: a pod whose disk-backed emptyDir outgrows its
// sizeLimit is evicted with the eviction manager's message; one within
// its limit keeps running, and a memory-backed one is a tmpfs of that size.
func TestEmptyDirSizeLimit(t *testing.T) {
	d := startDaemon(t, withArgs("--housekeeping-interval", "1s"))
	pod := func(name, medium, mib string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s}
spec:
  volumes: [{name: scratch, emptyDir: {medium: %q, sizeLimit: 2Mi}}]
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, volumeMounts: [{name: scratch, mountPath: /scratch}],
     command: [sh, -c, "dd if=/dev/urandom of=/scratch/f bs=1M count=%s 2>&1; sync; sleep 300"]}
`, name, medium, mib)
	}
	d.mustKubectl("1.27", pod("over", "", "3"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("within", "", "1"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("memory", "Memory", "3"), "apply", "-f", "-")
	d.waitFor("over to be evicted", 60*time.Second, func() (bool, error) {
		return d.pod("default", "over").Status.Phase == corev1.PodFailed, nil
	})
	p := d.pod("default", "over")
	if want := `Usage of EmptyDir volume "scratch" exceeds the limit "2Mi". `; p.Status.Reason != "Evicted" || p.Status.Message != want {
		t.Errorf("over: reason %q message %q, want Evicted %q", p.Status.Reason, p.Status.Message, want)
	}
	if row := d.sameRow("default", "over"); len(row) < 3 || row[2] != "Evicted" {
		t.Errorf("kubectl get pod over: %v", row)
	}
	if out := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=over,reason=Evicted", "-o", "jsonpath={.items[*].type}"); out != "Warning" {
		t.Errorf("Evicted event: %q", out)
	}
	// Two more housekeeping passes: the others stay.
	time.Sleep(3 * time.Second)
	for _, name := range []string{"within", "memory"} {
		if p := d.pod("default", name); p.Status.Phase != corev1.PodRunning {
			t.Errorf("%s: %s %s", name, p.Status.Phase, p.Status.Message)
		}
	}
	if logs := d.mustKubectl("1.33", "", "logs", "memory"); !strings.Contains(logs, "No space left on device") {
		t.Errorf("a memory emptyDir of 2Mi took 3Mi: %q", logs)
	}
}
