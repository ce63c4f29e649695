package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const staticManifest = `apiVersion: v1
kind: Pod
metadata:
  name: static-web
  labels: {app: web}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", "echo VERSION; trap 'exit 0' TERM; while true; do sleep 0.1; done"]
`

// TestStaticPods: a manifest dropped in the manifest directory runs and
// shows up as a mirror pod owned by the node; deleting the mirror brings
// it back without touching the containers; editing the file restarts the
// pod; removing it stops the pod and removes the mirror.
func TestStaticPods(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	nodes, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node := nodes.Items[0]
	name := "static-web-" + strings.ToLower(node.Name)
	manifest := filepath.Join(d.path("etc"), "manifests", "web.yaml")
	if err := os.WriteFile(manifest, []byte(strings.Replace(staticManifest, "VERSION", "v1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitRunning("1.33", "default", name, "1/1")
	d.sameRow("default", name)
	mirror := d.pod("default", name)
	hash := mirror.Annotations["kubernetes.io/config.hash"]
	if mirror.Annotations["kubernetes.io/config.mirror"] != hash || hash == "" || mirror.Annotations["kubernetes.io/config.source"] != "file" ||
		len(mirror.OwnerReferences) != 1 || mirror.OwnerReferences[0].Kind != "Node" || mirror.OwnerReferences[0].UID != node.UID ||
		mirror.Spec.NodeName != node.Name || mirror.Spec.ServiceAccountName != "" {
		t.Errorf("mirror pod %+v %+v", mirror.ObjectMeta, mirror.Spec)
	}
	if out := d.mustKubectl("1.33", "", "describe", "pod", name); !strings.Contains(out, "Controlled By:  Node/"+node.Name) {
		t.Errorf("describe:\n%s", out)
	}
	if logs := d.mustKubectl("1.27", "", "logs", name); logs != "v1\n" {
		t.Errorf("logs %q", logs)
	}
	containerID := mirror.Status.ContainerStatuses[0].ContainerID

	// Deleting the mirror pod: it comes back (a new object), the
	// container runs on.
	d.mustKubectl("1.33", "", "delete", "pod", name)
	d.waitFor("the mirror pod to come back", 30*time.Second, func() (bool, error) {
		p, err := d.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.UID != mirror.UID && len(p.Status.ContainerStatuses) == 1 && p.DeletionTimestamp == nil, nil
	})
	if again := d.pod("default", name); again.Status.ContainerStatuses[0].ContainerID != containerID || again.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("deleting the mirror touched the pod: %+v", again.Status.ContainerStatuses[0])
	}
	// The mirror annotation cannot be changed.
	if _, stderr, err := d.kubectl("1.33", "", "annotate", "pod", name, "--overwrite", "kubernetes.io/config.mirror=forged"); err == nil ||
		!strings.Contains(stderr, "may not remove or update mirror pod annotation") {
		t.Errorf("changing the mirror annotation: %v %s", err, stderr)
	}

	// Editing the manifest restarts the pod with the new spec.
	if err := os.WriteFile(manifest, []byte(strings.Replace(staticManifest, "VERSION", "v2", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the new version", 60*time.Second, func() (bool, error) {
		out, _, err := d.kubectl("1.33", "", "logs", name)
		return err == nil && out == "v2\n", nil
	})
	d.waitRunning("1.33", "default", name, "1/1")
	if p := d.pod("default", name); p.Annotations["kubernetes.io/config.mirror"] == hash {
		t.Errorf("the mirror still names the old manifest")
	}

	// Removing the manifest stops the pod and removes the mirror.
	if err := os.Remove(manifest); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the mirror pod to go", 30*time.Second, func() (bool, error) {
		_, err := d.client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err != nil, nil
	})
	d.waitFor("the runtime to be empty", 30*time.Second, func() (bool, error) {
		return len(d.podSandboxes()) == 0, nil
	})

	// A static pod held in a postStart hook that never returns: removing
	// its manifest still stops it, without waiting for the hook.
	hanging := filepath.Join(d.path("etc"), "manifests", "hanging.yaml")
	if err := os.WriteFile(hanging, []byte(`apiVersion: v1
kind: Pod
metadata: {name: hanging}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3587"]
    lifecycle:
      postStart:
        exec: {command: ["sleep", "3589"]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the hanging static pod's hook to run", 30*time.Second, func() (bool, error) {
		return processRunning("sleep 3589"), nil
	})
	if err := os.Remove(hanging); err != nil {
		t.Fatal(err)
	}
	d.waitFor("the hanging static pod to stop", 15*time.Second, func() (bool, error) {
		return !processRunning("sleep 3587") && !processRunning("sleep 3589") && len(d.podSandboxes()) == 0, nil
	})
}
