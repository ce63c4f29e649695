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

const simplePod = `apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: %s
    command: ["sleep", "3600"]
`

// TestBadInput checks that bad manifests get the errors kubectl users know,
// that nothing is stored for them, and that the daemon keeps serving.
func TestBadInput(t *testing.T) {
	d := startDaemon(t)
	host := startRegistry(t, "e2e/busybox:1.0")
	d.mirror(t, "registry.k8s.io", host)
	for _, version := range []string{"1.27", "1.33"} {
		t.Run("kubectl-"+version, func(t *testing.T) {
			for _, tc := range []struct {
				desc, manifest string
				args           []string
				want           string
			}{
				{"invalid name", fmt.Sprintf(simplePod, "Bad_Name", "default", "busybox"), nil,
					`The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters`},
				{"unknown field", strings.Replace(fmt.Sprintf(simplePod, "strict", "default", "busybox"), "    command:", "    bogus: 1\n    command:", 1),
					[]string{"--validate=strict"},
					`Error from server (BadRequest): error when creating "STDIN": Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.containers[0].bogus"`},
				{"missing image field", strings.Replace(fmt.Sprintf(simplePod, "noimage", "default", "x"), "    image: x\n", "", 1), nil,
					`The Pod "noimage" is invalid: spec.containers[0].image: Required value`},
				{"missing namespace", fmt.Sprintf(simplePod, "lost", "nope", "busybox"), nil,
					`Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found`},
			} {
				t.Run(tc.desc, func(t *testing.T) {
					_, stderr, err := d.kubectl(version, tc.manifest, append([]string{"apply", "-f", "-"}, tc.args...)...)
					if err == nil {
						t.Fatalf("kubectl apply succeeded")
					}
					if !strings.Contains(stderr, tc.want) {
						t.Errorf("stderr:\n%s\nwant it to contain:\n%s", stderr, tc.want)
					}
				})
			}
			if out := d.mustKubectl(version, "", "explain", "pod.spec.restartPolicy"); !strings.Contains(out, "Restart policy for all containers within the pod") {
				t.Errorf("kubectl explain: %s", out)
			}
			if out := d.mustKubectl(version, "", "get", "pods", "-A", "--no-headers"); strings.TrimSpace(out) != "" {
				t.Errorf("rejected pods were stored:\n%s", out)
			}
		})
	}

	// A missing image: ErrImagePull in STATUS, then the back-off.
	d.mustKubectl("1.33", fmt.Sprintf(simplePod, "ghost", "default", "registry.k8s.io/e2e/nope:1"), "apply", "-f", "-")
	d.waitFor("STATUS ErrImagePull", 60*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "ghost")
		return len(row) > 2 && row[2] == "ErrImagePull", nil
	})
	out := d.mustKubectl("1.27", "", "describe", "pod", "ghost")
	for _, want := range []string{`Failed to pull image "registry.k8s.io/e2e/nope:1"`, "Error: ErrImagePull", "Reason:       ErrImagePull"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	d.waitFor("STATUS ImagePullBackOff", 60*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "ghost")
		return len(row) > 2 && row[2] == "ImagePullBackOff", nil
	})
	d.sameRow("default", "ghost")
	// The daemon still serves.
	if out := d.mustKubectl("1.27", "", "get", "ns", "--no-headers"); !strings.Contains(out, "kube-system") {
		t.Errorf("get ns after bad input: %s", out)
	}
	d.mustKubectl("1.33", "", "delete", "pod", "ghost")
}

// TestPullThroughMirror pulls registry.k8s.io/e2e/busybox:1.0 from a local
// plain-HTTP registry configured as a mirror in hosts.toml.
func TestPullThroughMirror(t *testing.T) {
	d := startDaemon(t)
	host := startRegistry(t, "e2e/busybox:1.0")
	d.mirror(t, "registry.k8s.io", host)
	d.mustKubectl("1.33", fmt.Sprintf(simplePod, "pulled", "default", "registry.k8s.io/e2e/busybox:1.0"), "apply", "-f", "-")
	d.waitRunning("1.33", "default", "pulled", "1/1")
	pod := d.pod("default", "pulled")
	cs := pod.Status.ContainerStatuses[0]
	if cs.Image != "registry.k8s.io/e2e/busybox:1.0" || !strings.HasPrefix(cs.ImageID, "registry.k8s.io/e2e/busybox@sha256:") {
		t.Errorf("image %q imageID %q", cs.Image, cs.ImageID)
	}
	if out := d.mustKubectl("1.27", "", "describe", "pod", "pulled"); !strings.Contains(out, `Successfully pulled image "registry.k8s.io/e2e/busybox:1.0"`) {
		t.Errorf("describe lacks the Pulled event:\n%s", out)
	}
	fp := d.capture(t, "default", "pulled")
	d.mustKubectl("1.33", "", "delete", "pod", "pulled")
	d.check(t, fp)
}

// TestPodOS: a pod for another operating system is scheduled (neither the
// API nor the scheduler looks at spec.os) and then refused by the node at
// admission as the kubelet does, before anything of it runs: spec.os.name
// windows is PodOSNotSupported, a kubernetes.io/os: windows label is
// PodOSSelectorNodeLabelDoesNotMatch, a kubernetes.io/os: windows
// nodeSelector keeps the pod Pending at the scheduler or, bound to the
// node by its author, is NodeAffinity; each with upstream's messages, a
// Warning event, and the reason in kubectl's STATUS under 1.27 and 1.33.
func TestPodOS(t *testing.T) {
	d := startDaemon(t)
	pod := func(name, labels, os string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + ", labels: {" + labels + "}}\nspec:\n  restartPolicy: Never\n" + os +
			"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'echo ran']}]\n"
	}
	d.mustKubectl("1.27", pod("windows", "", "  os: {name: windows}\n"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("labelled", "kubernetes.io/os: windows", ""), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("linux", "kubernetes.io/os: linux", "  os: {name: linux}\n"), "apply", "-f", "-")
	// A windows nodeSelector: the scheduler keeps the pod Pending; bound
	// to the node by its author, the node refuses it (NodeAffinity).
	d.mustKubectl("1.33", pod("selected", "", "  nodeSelector: {kubernetes.io/os: windows}\n"), "apply", "-f", "-")
	nodes, err := d.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v", err)
	}
	d.mustKubectl("1.27", pod("bound", "", "  nodeName: "+nodes.Items[0].Name+"\n  nodeSelector: {kubernetes.io/os: windows}\n"), "apply", "-f", "-")
	if out := strings.TrimSpace(d.succeededLogs("linux")); out != "ran" {
		t.Errorf("the linux pod logged %q", out)
	}
	for _, tc := range []struct{ name, reason, message string }{
		{"windows", "PodOSNotSupported", "Failed to admit pod as the OS field doesn't match node OS"},
		{"labelled", "PodOSSelectorNodeLabelDoesNotMatch", "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"},
		{"bound", "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"},
	} {
		d.waitFor(tc.name+" to be rejected", 60*time.Second, func() (bool, error) {
			return d.pod("default", tc.name).Status.Phase == "Failed", nil
		})
		p := d.pod("default", tc.name)
		if p.Status.Reason != tc.reason || p.Status.Message != "Pod was rejected: "+tc.message {
			t.Errorf("%s: status %q %q", tc.name, p.Status.Reason, p.Status.Message)
		}
		if len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Terminated == nil && p.Status.ContainerStatuses[0].State.Waiting == nil {
			t.Errorf("%s: a container of a rejected pod runs: %+v", tc.name, p.Status.ContainerStatuses)
		}
		for _, v := range []string{"1.27", "1.33"} {
			if row := d.podRow(v, "default", tc.name); len(row) < 3 || row[2] != tc.reason {
				t.Errorf("kubectl %s get pod %s: %v", v, tc.name, row)
			}
		}
		out := d.mustKubectl("1.27", "", "get", "events", "--field-selector", "involvedObject.name="+tc.name, "-o", "custom-columns=T:.type,R:.reason,M:.message", "--no-headers")
		found := false
		for _, line := range strings.Split(out, "\n") {
			f := strings.Fields(line)
			found = found || len(f) > 2 && f[0] == "Warning" && f[1] == tc.reason && strings.HasSuffix(line, tc.message)
		}
		if !found {
			t.Errorf("%s: no Warning %s event:\n%s", tc.name, tc.reason, out)
		}
		if out, _, _ := d.kubectl("1.33", "", "logs", tc.name); strings.Contains(out, "ran") {
			t.Errorf("%s: the rejected pod's container ran: %q", tc.name, out)
		}
	}
	if p := d.pod("default", "selected"); p.Status.Phase != corev1.PodPending || p.Spec.NodeName != "" {
		t.Errorf("a pod selecting windows nodes: phase %s on node %q, want Pending and unscheduled", p.Status.Phase, p.Spec.NodeName)
	}
	for _, v := range []string{"1.27", "1.33"} {
		if row := d.podRow(v, "default", "selected"); len(row) < 3 || row[2] != "Pending" {
			t.Errorf("kubectl %s get pod selected: %v", v, row)
		}
	}
}
