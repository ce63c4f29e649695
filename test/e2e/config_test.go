package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConfigMapsAndSecrets drives ConfigMaps, Secrets and ServiceAccounts
// with kubectl 1.27 and 1.33 as a user would: every way `kubectl create`
// makes them, the server-side columns, describe, base64 data, upstream's
// validation and immutability messages, a default service account in every
// namespace; and no secret value ever reaches the daemon's log.
func TestConfigMapsAndSecrets(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("app.conf", "listen 8080\n")
	envFile := write("app.env", "# comment\nLEVEL=debug\nREGION=eu\n")
	cert, key := selfSigned(t, dir)
	const password = "S3cr3t-Value-4-peapod"

	for _, v := range []string{"1.27", "1.33"} {
		ns := "cfg" + strings.ReplaceAll(v, ".", "")
		d.mustKubectl(v, "", "create", "namespace", ns)
		d.mustKubectl(v, "", "-n", ns, "create", "configmap", "app", "--from-literal=mode=prod", "--from-file="+conf)
		d.mustKubectl(v, "", "-n", ns, "create", "configmap", "env", "--from-env-file="+envFile)
		d.mustKubectl(v, "", "-n", ns, "create", "secret", "generic", "db", "--from-literal=password="+password)
		d.mustKubectl(v, "", "-n", ns, "create", "secret", "tls", "web", "--cert="+cert, "--key="+key)
		d.mustKubectl(v, "", "-n", ns, "create", "secret", "docker-registry", "reg", "--docker-server=127.0.0.1:5000",
			"--docker-username=u", "--docker-password=p")

		rows := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(d.mustKubectl(v, "", "-n", ns, "get", "cm,secret", "--no-headers")), "\n") {
			f := strings.Fields(line)
			rows[f[0]] = f[1:]
		}
		for name, want := range map[string][]string{
			"configmap/app": {"2"}, "configmap/env": {"2"},
			"secret/db": {"Opaque", "1"}, "secret/web": {"kubernetes.io/tls", "2"}, "secret/reg": {"kubernetes.io/dockerconfigjson", "1"},
		} {
			got := rows[name]
			if len(got) < len(want)+1 || strings.Join(got[:len(want)], " ") != strings.Join(want, " ") {
				t.Errorf("kubectl %s get cm,secret: %s = %v, want %v then the age", v, name, got, want)
			}
		}
		if out := d.mustKubectl(v, "", "-n", ns, "get", "cm", "app", "-o", "jsonpath={.data.app\\.conf}|{.data.mode}"); out != "listen 8080\n|prod" {
			t.Errorf("configmap data %q", out)
		}
		if out := d.mustKubectl(v, "", "-n", ns, "get", "cm", "env", "-o", "jsonpath={.data.LEVEL},{.data.REGION}"); out != "debug,eu" {
			t.Errorf("env-file configmap data %q", out)
		}
		if out := d.mustKubectl(v, "", "-n", ns, "get", "secret", "db", "-o", "jsonpath={.data.password}"); out != base64.StdEncoding.EncodeToString([]byte(password)) {
			t.Errorf("secret data %q, want base64 of the password", out)
		}
		if out := d.mustKubectl(v, "", "-n", ns, "describe", "cm", "app"); !strings.Contains(out, "mode:") || !strings.Contains(out, "prod") {
			t.Errorf("describe configmap:\n%s", out)
		}
		if out := d.mustKubectl(v, "", "-n", ns, "describe", "secret", "db"); !strings.Contains(out, "password:  21 bytes") || strings.Contains(out, password) {
			t.Errorf("describe secret (sizes, never values):\n%s", out)
		}

		// kubectl explain and strict validation know the new kinds.
		for _, what := range []string{"configmap.data", "secret.type", "serviceaccount.automountServiceAccountToken"} {
			if out, errOut, err := d.kubectl(v, "", "explain", what); err != nil || !strings.Contains(out, "FIELD:") && !strings.Contains(out, "FIELDS:") {
				t.Errorf("kubectl %s explain %s: %v\n%s%s", v, what, err, out, errOut)
			}
		}
		_, errOut, err := d.kubectl(v, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strictcm}\nbogus: 1\n", "-n", ns, "create", "--validate=strict", "-f", "-")
		if err == nil || !strings.Contains(errOut, `unknown field "bogus"`) {
			t.Errorf("kubectl %s create --validate=strict of a ConfigMap with an unknown field: %v\n%s", v, err, errOut)
		}

		// A stringData secret from YAML: merged into data.
		d.mustKubectl(v, "apiVersion: v1\nkind: Secret\nmetadata: {name: sd}\nstringData: {user: admin}\n", "-n", ns, "apply", "-f", "-")
		if out := d.mustKubectl(v, "", "-n", ns, "get", "secret", "sd", "-o", "jsonpath={.type} {.data.user} {.stringData}"); out != "Opaque YWRtaW4= " {
			t.Errorf("stringData secret: %q", out)
		}

		// Validation as upstream.
		for _, tc := range []struct{ yaml, says string }{
			{"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\ndata: {\"bad key\": x}\n",
				`ConfigMap "bad" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`},
			{"apiVersion: v1\nkind: Secret\nmetadata: {name: badtls}\ntype: kubernetes.io/tls\ndata: {tls.crt: eA==}\n",
				`Secret "badtls" is invalid: data[tls.key]: Required value`},
			{"apiVersion: v1\nkind: Secret\nmetadata: {name: badreg}\ntype: kubernetes.io/dockerconfigjson\ndata: {.dockerconfigjson: eA==}\n",
				`Secret "badreg" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"`},
		} {
			_, errOut, err := d.kubectl(v, tc.yaml, "-n", ns, "create", "-f", "-")
			if err == nil || !strings.Contains(errOut, tc.says) {
				t.Errorf("kubectl %s create of an invalid object: %v, want %q in:\n%s", v, err, tc.says, errOut)
			}
		}

		// Immutable objects keep their data.
		d.mustKubectl(v, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {k: v1}\n", "-n", ns, "create", "-f", "-")
		_, errOut, err = d.kubectl(v, "", "-n", ns, "patch", "cm", "frozen", "-p", `{"data":{"k":"v2"}}`)
		if err == nil || !strings.Contains(errOut, "data: Forbidden: field is immutable when `immutable` is set") {
			t.Errorf("patching an immutable configmap: %v\n%s", err, errOut)
		}
		_, errOut, err = d.kubectl(v, "", "-n", ns, "patch", "secret", "db", "--type=merge", "-p", `{"type":"kubernetes.io/tls"}`)
		if err == nil || !strings.Contains(errOut, "type: Invalid value: \"kubernetes.io/tls\": field is immutable") {
			t.Errorf("changing a secret's type: %v\n%s", err, errOut)
		}

		// The service-account controller gives the namespace its default.
		d.waitFor("the default service account in "+ns, 30*time.Second, func() (bool, error) {
			out, _, _ := d.kubectl(v, "", "-n", ns, "get", "sa", "--no-headers")
			return strings.HasPrefix(out, "default "), nil
		})
	}

	d.mustKubectl("1.33", "", "run", "sa", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "3600")
	if p := d.pod("default", "sa"); p.Spec.ServiceAccountName != "default" || p.Spec.DeprecatedServiceAccount != "default" {
		t.Errorf("service account of a pod: %q/%q, want default", p.Spec.ServiceAccountName, p.Spec.DeprecatedServiceAccount)
	}
	// Deleting the default service account brings it back.
	d.mustKubectl("1.33", "", "delete", "sa", "default")
	d.waitFor("the default service account to come back", 30*time.Second, func() (bool, error) {
		_, _, err := d.kubectl("1.33", "", "get", "sa", "default")
		return err == nil, nil
	})

	logData, err := os.ReadFile(d.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{password, base64.StdEncoding.EncodeToString([]byte(password))} {
		if strings.Contains(string(logData), s) {
			t.Errorf("the daemon log holds a secret value (%q)", s)
		}
	}
}

// selfSigned writes a self-signed certificate and its key for
// `kubectl create secret tls`.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestImagePullSecrets pulls from a registry on 127.0.0.1 that wants a
// password: without a pull secret the pull fails (ErrImagePull), with a
// `kubectl create secret docker-registry` secret it succeeds, and a pull
// secret that does not exist is a warning event.
func TestImagePullSecrets(t *testing.T) {
	d := startDaemon(t)
	host := startRegistryWith(t, "private/busybox:1.0", "peapod", "hunter2-pw")
	pod := func(name, secret string) string {
		s := "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n"
		if secret != "" {
			s += "  imagePullSecrets: [{name: " + secret + "}]\n"
		}
		return s + "  containers: [{name: c, image: " + host + "/private/busybox:1.0, command: [sleep, \"3600\"]}]\n"
	}
	d.mustKubectl("1.33", pod("anon", ""), "apply", "-f", "-")
	d.waitFor("ErrImagePull without credentials", 60*time.Second, func() (bool, error) {
		for _, cs := range d.pod("default", "anon").Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true, nil
			}
		}
		return false, nil
	})
	out := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=anon,reason=Failed", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(out, "Failed to pull image \""+host+"/private/busybox:1.0\"") || !strings.Contains(out, "401") && !strings.Contains(strings.ToLower(out), "unauthorized") {
		t.Errorf("pull failure events: %q", out)
	}

	d.mustKubectl("1.27", "", "create", "secret", "docker-registry", "regcred", "--docker-server="+host,
		"--docker-username=peapod", "--docker-password=hunter2-pw")
	d.mustKubectl("1.27", pod("withsecret", "regcred"), "apply", "-f", "-")
	d.waitRunning("1.27", "default", "withsecret", "1/1")

	d.mustKubectl("1.33", pod("missing", "nosuchsecret"), "apply", "-f", "-")
	d.waitFor("the FailedToRetrieveImagePullSecret event", 60*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=missing,reason=FailedToRetrieveImagePullSecret", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "Unable to retrieve some image pull secrets (nosuchsecret); attempting to pull the image may not succeed."), nil
	})
	if logData, _ := os.ReadFile(d.logPath); strings.Contains(string(logData), "hunter2-pw") {
		t.Error("the daemon log holds the registry password")
	}
}

// TestRunAsNonRoot: a container that must not run as root does not start
// when its image or its runAsUser would make it root
// (CreateContainerConfigError with upstream's messages), and runs as the
// user it names otherwise.
func TestRunAsNonRoot(t *testing.T) {
	d := startDaemon(t)
	pod := func(name, sc string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  securityContext: " + sc +
			"\n  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'id -u; sleep 3600']}]\n"
	}
	d.mustKubectl("1.27", pod("rootimage", "{runAsNonRoot: true}"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("rootuser", "{runAsNonRoot: true, runAsUser: 0}"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("user", "{runAsNonRoot: true, runAsUser: 1000}"), "apply", "-f", "-")
	for name, msg := range map[string]string{
		"rootimage": `container has runAsNonRoot and image will run as root (pod: "rootimage_default(%s)", container: c)`,
		"rootuser":  `container's runAsUser breaks non-root policy (pod: "rootuser_default(%s)", container: c)`,
	} {
		d.waitFor(name+" to be refused", 60*time.Second, func() (bool, error) {
			p := d.pod("default", name)
			want := fmt.Sprintf(msg, p.UID)
			for _, cs := range p.Status.ContainerStatuses {
				if w := cs.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" && w.Message == want {
					return true, nil
				}
			}
			return false, nil
		})
	}
	d.waitRunning("1.27", "default", "user", "1/1")
	d.waitFor("the user pod's output", 30*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "logs", "user")
		return strings.TrimSpace(out) == "1000", nil
	})

	// supplementalGroupsPolicy Strict: the process has its group and the
	// ones the pod names, and the status says so, as does the node.
	d.mustKubectl("1.33", "apiVersion: v1\nkind: Pod\nmetadata: {name: strict}\nspec:\n"+
		"  securityContext: {runAsUser: 1000, runAsGroup: 3000, supplementalGroups: [4000], supplementalGroupsPolicy: Strict}\n"+
		"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, 'id -G; sleep 3600']}]\n", "apply", "-f", "-")
	d.waitRunning("1.33", "default", "strict", "1/1")
	d.waitFor("the strict pod's groups", 30*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "logs", "strict")
		return strings.TrimSpace(out) == "3000 4000", nil
	})
	for _, v := range []string{"1.27", "1.33"} {
		if out := d.mustKubectl(v, "", "get", "pod", "strict", "-o", "jsonpath={.status.containerStatuses[0].user.linux}"); out != `{"gid":3000,"supplementalGroups":[3000,4000],"uid":1000}` {
			t.Errorf("kubectl %s: containerStatuses[0].user.linux %s", v, out)
		}
	}
	if out := d.mustKubectl("1.33", "", "get", "node", "-o", "jsonpath={.items[0].status.features.supplementalGroupsPolicy}"); out != "true" {
		t.Errorf("node features.supplementalGroupsPolicy %q", out)
	}
}

// TestSysctls: safe sysctls are set in the pod, unsafe ones fail the pod
// with SysctlForbidden (upstream's admission message) unless the node
// allows them with --allowed-unsafe-sysctls.
func TestSysctls(t *testing.T) {
	d := startDaemon(t, withArgs("--allowed-unsafe-sysctls", "kernel.msg*"))
	pod := func(name, sysctl, value, file string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  restartPolicy: Never\n" +
			"  securityContext: {sysctls: [{name: " + sysctl + ", value: \"" + value + "\"}]}\n" +
			"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [cat, " + file + "]}]\n"
	}
	d.mustKubectl("1.33", pod("safe", "net.ipv4.ip_local_port_range", "1024 65000", "/proc/sys/net/ipv4/ip_local_port_range"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("allowed", "kernel.msgmax", "65000", "/proc/sys/kernel/msgmax"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("unsafe", "kernel.sem", "250 32000 100 128", "/proc/sys/kernel/sem"), "apply", "-f", "-")
	for name, want := range map[string]string{"safe": "1024\t65000", "allowed": "65000"} {
		if out := strings.TrimSpace(d.succeededLogs(name)); out != want {
			t.Errorf("%s: the sysctl reads %q, want %q", name, out, want)
		}
	}
	d.waitFor("the unsafe pod to be rejected", 60*time.Second, func() (bool, error) {
		return d.pod("default", "unsafe").Status.Phase == "Failed", nil
	})
	p := d.pod("default", "unsafe")
	if p.Status.Reason != "SysctlForbidden" || p.Status.Message != `Pod was rejected: forbidden sysctl: "kernel.sem" not allowlisted` {
		t.Errorf("rejected pod status: %q %q", p.Status.Reason, p.Status.Message)
	}
	for _, v := range []string{"1.27", "1.33"} {
		if row := d.podRow(v, "default", "unsafe"); len(row) < 3 || row[2] != "SysctlForbidden" {
			t.Errorf("kubectl %s get pod unsafe: %v", v, row)
		}
	}
}

// TestSeccomp: a container that names no profile runs under
// RuntimeDefault (peapod's --seccomp-default), in filter mode, and cannot
// make a user namespace; Unconfined runs without a filter; a Localhost
// profile from the kubelet's seccomp directory applies, and a missing one
// is a CreateContainerError.
func TestSeccomp(t *testing.T) {
	d := startDaemon(t)
	profiles := d.path("data/kubelet/seccomp/profiles")
	if err := os.MkdirAll(profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	profile := `{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`
	if err := os.WriteFile(filepath.Join(profiles, "no-mkdir.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	const script = "grep Seccomp: /proc/self/status; unshare -U true && echo userns-made || echo userns-refused; mkdir /tmp/d && echo mkdir-ok || echo mkdir-refused"
	pod := func(name, sc string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: " + name + "}\nspec:\n  restartPolicy: Never\n" +
			"  containers: [{name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, '" + script + "'], securityContext: " + sc + "}]\n"
	}
	d.mustKubectl("1.33", pod("dflt", "{}"), "apply", "-f", "-")
	d.mustKubectl("1.27", pod("unconfined", "{seccompProfile: {type: Unconfined}}"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("local", "{seccompProfile: {type: Localhost, localhostProfile: profiles/no-mkdir.json}}"), "apply", "-f", "-")
	d.mustKubectl("1.33", pod("missing", "{seccompProfile: {type: Localhost, localhostProfile: profiles/nope.json}}"), "apply", "-f", "-")
	for name, want := range map[string][]string{
		"dflt":       {"Seccomp:\t2", "userns-refused", "mkdir-ok"},
		"unconfined": {"Seccomp:\t0", "userns-made", "mkdir-ok"},
		"local":      {"Seccomp:\t2", "userns-made", "mkdir-refused"},
	} {
		out := d.succeededLogs(name)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", name, w, out)
			}
		}
	}
	d.waitFor("the missing profile's error", 60*time.Second, func() (bool, error) {
		for _, cs := range d.pod("default", "missing").Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "CreateContainerError" && strings.Contains(w.Message, "cannot load seccomp profile") {
				return true, nil
			}
		}
		return false, nil
	})
	// Fields peapod cannot honour yet are refused, never ignored.
	_, errOut, err := d.kubectl("1.33", pod("unmasked", "{procMount: Unmasked}"), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "spec.containers[0].securityContext.procMount: Forbidden: procMount Unmasked is not supported by peapod yet") {
		t.Errorf("procMount Unmasked: %v\n%s", err, errOut)
	}
	_, errOut, err = d.kubectl("1.33", "apiVersion: v1\nkind: Pod\nmetadata: {name: bogus}\nspec:\n  securityContext: {supplementalGroupsPolicy: Bogus}\n"+
		"  containers: [{name: c, image: busybox}]\n", "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, `spec.securityContext.supplementalGroupsPolicy: Unsupported value: "Bogus": supported values: "Merge", "Strict"`) {
		t.Errorf("supplementalGroupsPolicy Bogus: %v\n%s", err, errOut)
	}
	_, errOut, err = d.kubectl("1.33", pod("bad", "{seccompProfile: {type: Localhost}}"), "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost") {
		t.Errorf("a Localhost profile without a file: %v\n%s", err, errOut)
	}
}
