package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestRuntimeClass: node.k8s.io/v1 RuntimeClasses, one per runtime handler
// of the node, under kubectl 1.27 and 1.33; a pod naming one runs on that
// handler, a pod naming a missing one is refused as upstream's admission
// refuses it, and a class whose handler the node lacks leaves its pods
// without a sandbox (FailedCreatePodSandBox) while the overhead it
// defines is given to the pod.
func TestRuntimeClass(t *testing.T) {
	d := startDaemon(t)
	for _, v := range []string{"1.27", "1.33"} {
		out := d.mustKubectl(v, "", "get", "runtimeclasses")
		if !strings.HasPrefix(out, "NAME   HANDLER   AGE\n") || !strings.Contains(out, "\nrunc   runc      ") {
			t.Errorf("kubectl %s get runtimeclasses:\n%s", v, out)
		}
	}
	// The node publishes the runtime's handlers and their features
	// (status.runtimeHandlers, as the upstream kubelet does): the default
	// one ("") and runc, each saying whether it makes mounts recursively
	// read-only and that it has no user namespaces.
	handlers := d.mustKubectl("1.33", "", "get", "nodes", "-o",
		`jsonpath={range .items[0].status.runtimeHandlers[*]}[{.name}] rro={.features.recursiveReadOnlyMounts} userns={.features.userNamespaces}{"\n"}{end}`)
	for _, want := range []string{"[] rro=", "[runc] rro="} {
		if !strings.Contains(handlers, want) {
			t.Errorf("node runtimeHandlers lack %q:\n%s", want, handlers)
		}
	}
	if lines := strings.Split(strings.TrimSpace(handlers), "\n"); len(lines) < 2 || strings.Count(handlers, "userns=false") != len(lines) ||
		strings.Count(handlers, "rro=true")+strings.Count(handlers, "rro=false") != len(lines) {
		t.Errorf("node runtimeHandlers: every handler must state both features:\n%s", handlers)
	}
	pod := func(name, class string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  runtimeClassName: " + class +
			"\n  terminationGracePeriodSeconds: 1\n  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}]\n"
	}
	d.mustKubectl("1.33", pod("on-runc", "runc"), "apply", "-f", "-")
	d.waitRunning("1.27", "default", "on-runc", "1/1")
	if out := d.mustKubectl("1.27", "", "describe", "pod", "on-runc"); !strings.Contains(out, "Runtime Class Name:  runc\n") {
		t.Errorf("describe does not name the class:\n%s", out)
	}
	for _, v := range []string{"1.27", "1.33"} {
		_, stderr, err := d.kubectl(v, pod("on-nothing", "nope"), "apply", "-f", "-")
		if err == nil || !strings.Contains(stderr, `pods "on-nothing" is forbidden: pod rejected: RuntimeClass "nope" not found`) {
			t.Errorf("kubectl %s, a missing class: %v %s", v, err, stderr)
		}
	}
	d.mustKubectl("1.33", "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: broken}\nhandler: nosuch\noverhead: {podFixed: {memory: 8Mi}}\n", "apply", "-f", "-")
	_, stderr, err := d.kubectl("1.33", "", "patch", "runtimeclass", "broken", "--type=merge", "-p", `{"handler":"runc"}`)
	if err == nil || !strings.Contains(stderr, `The RuntimeClass "broken" is invalid: handler: Invalid value: "runc": field is immutable`) {
		t.Errorf("a handler change: %v %s", err, stderr)
	}
	d.mustKubectl("1.33", pod("on-broken", "broken"), "apply", "-f", "-")
	if got := d.mustKubectl("1.33", "", "get", "pod", "on-broken", "-o", "jsonpath={.spec.overhead.memory}"); got != "8Mi" {
		t.Errorf("the class's overhead on the pod: %q", got)
	}
	d.waitFor("FailedCreatePodSandBox", 30*time.Second, func() (bool, error) {
		for _, e := range d.events("default", "on-broken") {
			if strings.Contains(e, `FailedCreatePodSandBox: Failed to create pod sandbox: `) && strings.Contains(e, `no runtime handler "nosuch"`) {
				return true, nil
			}
		}
		return false, nil
	})
	if row := d.podRow("1.33", "default", "on-broken"); len(row) < 3 || row[2] != "ContainerCreating" {
		t.Errorf("on-broken: %q", row)
	}
}
