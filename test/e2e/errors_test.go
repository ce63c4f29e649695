package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
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
