package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestPodSecurity: the pod-security.kubernetes.io namespace labels, as
// kube-apiserver's PodSecurity admission enforces them, through both
// kubectls: enforce=restricted refuses a privileged pod and a root one
// with upstream's messages and admits a compliant pod, which runs;
// warn=baseline warns and admits; so are ephemeral containers
// (kubectl debug); a Deployment is warned about, never
// refused, and its pods are; invalid label values are refused; setting
// enforce on a namespace with violating pods warns about them.
func TestPodSecurity(t *testing.T) {
	d := startDaemon(t)
	pod := func(name, podSC, containerSC string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  securityContext: " + podSC +
			"\n  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'id -u; sleep 3600'], securityContext: " + containerSC + "}]\n"
	}
	const (
		restrictedPod       = "{runAsNonRoot: true, runAsUser: 1000, seccompProfile: {type: RuntimeDefault}}"
		restrictedContainer = "{allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}"
		privilegedDetail    = `privileged (container "c" must not set securityContext.privileged=true)`
		restrictedDetails   = `allowPrivilegeEscalation != false (container "c" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), ` +
			`runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), ` +
			`seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`
	)

	for i, v := range []string{"1.27", "1.33"} {
		ns := []string{"strict-a", "strict-b"}[i]
		d.mustKubectl(v, "", "create", "namespace", ns)
		d.mustKubectl(v, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
		for name, tc := range map[string]struct{ manifest, msg string }{
			"priv": {pod("priv", "{}", "{privileged: true}"),
				`pods "priv" is forbidden: violates PodSecurity "restricted:latest": ` + privilegedDetail + ", " + restrictedDetails},
			"root": {pod("root", "{runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}", restrictedContainer),
				`pods "root" is forbidden: violates PodSecurity "restricted:latest": runAsUser=0 (pod must not set runAsUser=0)`},
		} {
			_, errOut, err := d.kubectl(v, tc.manifest, "apply", "-n", ns, "-f", "-")
			if want := `Error from server (Forbidden): error when creating "STDIN": ` + tc.msg; err == nil || strings.TrimSpace(errOut) != want {
				t.Errorf("kubectl %s: %s: err %v, stderr\n%s\nwant\n%s", v, name, err, errOut, want)
			}
		}
		if _, errOut, err := d.kubectl(v, pod("ok", restrictedPod, restrictedContainer), "apply", "-n", ns, "-f", "-"); err != nil || errOut != "" {
			t.Fatalf("kubectl %s: the compliant pod: %v\n%s", v, err, errOut)
		}
		d.waitRunning(v, ns, "ok", "1/1")
		d.waitFor("the compliant pod's output", 30*time.Second, func() (bool, error) {
			out, _, _ := d.kubectl(v, "", "logs", "-n", ns, "ok")
			return strings.TrimSpace(out) == "1000", nil
		})

		// An ephemeral container is held to the level too; kubectl's
		// restricted profile makes one that passes.
		_, errOut, err := d.kubectl(v, "", "debug", "ok", "-n", ns, "--image=busybox", "--image-pull-policy=IfNotPresent", "-c", "dbg", "--profile=legacy", "--", "true")
		if want := `Error from server (Forbidden): pods "ok" is forbidden: violates PodSecurity "restricted:latest": ` +
			`allowPrivilegeEscalation != false (container "dbg" must set securityContext.allowPrivilegeEscalation=false), ` +
			`unrestricted capabilities (container "dbg" must set securityContext.capabilities.drop=["ALL"])`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s: debug: err %v, stderr\n%s\nwant it to hold\n%s", v, err, errOut, want)
		}
		if v == "1.33" { // 1.27's restricted profile leaves allowPrivilegeEscalation unset
			d.mustKubectl(v, "", "debug", "ok", "-n", ns, "--image=busybox", "--image-pull-policy=IfNotPresent", "-c", "dbg", "--profile=restricted", "--", "true")
		}

		// A Deployment is warned about (warn follows enforce) and stored;
		// its ReplicaSet's pods are refused.
		deploy := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n" +
			"  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, '3600']}]\n"
		_, errOut, err = d.kubectl(v, deploy, "apply", "-n", ns, "-f", "-")
		if want := `Warning: would violate PodSecurity "restricted:latest": ` + restrictedDetails; err != nil || strings.TrimSpace(errOut) != want {
			t.Errorf("kubectl %s: deployment: err %v, stderr\n%s\nwant\n%s", v, err, errOut, want)
		}
		d.waitFor("the ReplicaSet's FailedCreate event", 60*time.Second, func() (bool, error) {
			out, _, _ := d.kubectl(v, "", "get", "events", "-n", ns, "--field-selector", "reason=FailedCreate", "-o", "jsonpath={.items[*].message}")
			return strings.Contains(out, `is forbidden: violates PodSecurity "restricted:latest": `+restrictedDetails), nil
		})
	}

	// warn=baseline: admitted with upstream's warning.
	d.mustKubectl("1.33", "", "create", "namespace", "warned")
	d.mustKubectl("1.33", "", "label", "namespace", "warned", "pod-security.kubernetes.io/warn=baseline")
	for i, v := range []string{"1.27", "1.33"} {
		name := []string{"priv-a", "priv-b"}[i]
		_, errOut, err := d.kubectl(v, pod(name, "{}", "{privileged: true}"), "apply", "-n", "warned", "-f", "-")
		if want := `Warning: would violate PodSecurity "baseline:latest": ` + privilegedDetail; err != nil || strings.TrimSpace(errOut) != want {
			t.Errorf("kubectl %s: warn=baseline: err %v, stderr\n%s\nwant\n%s", v, err, errOut, want)
		}
		d.mustKubectl(v, "", "get", "pod", "-n", "warned", name)
	}

	// Invalid values are refused, on create and on update.
	for _, v := range []string{"1.27", "1.33"} {
		_, errOut, err := d.kubectl(v, "", "label", "namespace", "warned", "pod-security.kubernetes.io/enforce=strict")
		if want := `metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s: invalid level: err %v, stderr\n%s\nwant it to hold\n%s", v, err, errOut, want)
		}
		_, errOut, err = d.kubectl(v, "apiVersion: v1\nkind: Namespace\nmetadata: {name: bad, labels: {pod-security.kubernetes.io/warn-version: '1.30'}}\n", "apply", "-f", "-")
		if want := `metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.30": must be "latest" or "v1.x"`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s: invalid version: err %v, stderr\n%s\nwant it to hold\n%s", v, err, errOut, want)
		}
	}
	if out, _, err := d.kubectl("1.33", "", "get", "namespace", "bad"); err == nil {
		t.Errorf("the namespace with an invalid label was stored: %s", out)
	}

	// Enforcing on a namespace that holds violating pods warns about them
	// (and keeps them).
	_, errOut, err := d.kubectl("1.33", "", "label", "namespace", "warned", "pod-security.kubernetes.io/enforce=restricted")
	want := `Warning: existing pods in namespace "warned" violate the new PodSecurity enforce level "restricted:latest"
Warning: priv-a (and 1 other pod): privileged, allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, seccompProfile`
	if err != nil || strings.TrimSpace(errOut) != want {
		t.Errorf("enforce on a namespace with privileged pods: err %v, stderr\n%s\nwant\n%s", err, errOut, want)
	}
	_, errOut, err = d.kubectl("1.27", "", "label", "--overwrite", "namespace", "warned", "pod-security.kubernetes.io/enforce=baseline", "pod-security.kubernetes.io/enforce-version=v1.27")
	want = `Warning: existing pods in namespace "warned" violate the new PodSecurity enforce level "baseline:v1.27"
Warning: priv-a (and 1 other pod): privileged`
	if err != nil || strings.TrimSpace(errOut) != want {
		t.Errorf("kubectl 1.27: enforce baseline:v1.27: err %v, stderr\n%s\nwant\n%s", err, errOut, want)
	}
	d.mustKubectl("1.33", "", "get", "pod", "-n", "warned", "priv-a", "priv-b")
}
