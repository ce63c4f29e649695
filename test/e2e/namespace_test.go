package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNamespaceDeletion deletes a namespace with a running pod: the
// namespace turns Terminating, refuses new pods, its pod is terminated and
// cleaned up, and then the namespace goes away.
func TestNamespaceDeletion(t *testing.T) {
	d := startDaemon(t)
	d.mustKubectl("1.33", "", "create", "namespace", "team")
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: member
  namespace: team
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sleep", "3600"]
`)
	d.mustKubectl("1.33", manifest, "apply", "-f", "-")
	d.waitFor("the pod to run", 60*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "team", "member")
		return len(row) > 2 && row[2] == "Running", nil
	})
	fp := d.capture(t, "team", "member")
	if out, stderr, err := d.kubectl("1.27", "", "delete", "namespace", "default"); err == nil ||
		!strings.Contains(stderr, `namespaces "default" is forbidden: this namespace may not be deleted`) {
		t.Errorf("deleting default: %v %s %s", err, out, stderr)
	}
	d.mustKubectl("1.33", "", "delete", "namespace", "team", "--wait=false")
	if out := d.mustKubectl("1.33", "", "get", "namespace", "team", "--no-headers"); !strings.Contains(out, "Terminating") {
		t.Errorf("namespace not Terminating: %s", out)
	}
	_, stderr, err := d.kubectl("1.33", strings.Replace(manifest, "name: member", "name: latecomer", 1), "apply", "-f", "-")
	if err == nil || !strings.Contains(stderr, `pods "latecomer" is forbidden: unable to create new content in namespace team because it is being terminated`) {
		t.Errorf("create in a terminating namespace: %v %s", err, stderr)
	}
	d.waitFor("the namespace to go", 60*time.Second, func() (bool, error) {
		_, stderr, err := d.kubectl("1.33", "", "get", "namespace", "team")
		return err != nil && strings.Contains(stderr, `namespaces "team" not found`), nil
	})
	d.check(t, fp)
}
