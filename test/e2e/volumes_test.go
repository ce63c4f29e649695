package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVolumesAndConfigEnv runs a pod with every supported volume type and
// environment from ConfigMaps and Secrets, asserting from inside the
// containers (their logs) and from the API: an emptyDir shared by two
// containers (one writes, the other serves it over HTTP) and not seen by
// another pod, a tmpfs for medium Memory and for secrets, file modes, the
// downward API, projected sources, a hostPath, a ConfigMap change appearing
// without a restart while a subPath mount keeps the old file; missing
// objects fail as upstream, unsupported volume types are refused, and
// nothing of the pod is left after deletion.
func TestVolumesAndConfigEnv(t *testing.T) {
	d := startDaemon(t)
	hostDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDir, "marker"), []byte("from-the-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.mustKubectl("1.33", "", "create", "configmap", "cfg", "--from-literal=greeting=hello", "--from-literal=app.conf=v1", "--from-literal=9lives=x")
	d.mustKubectl("1.33", "", "create", "secret", "generic", "sec", "--from-literal=password=pw-123")
	const script = `echo "env=$GREETING,$PASSWORD,$CFG_greeting,$greeting"; grep -E ' /(mem|secret|data) ' /proc/mounts | cut -d' ' -f2,3,4 | cut -d, -f1;
stat -L -c 'mode %a %n' /secret/password /cfg/greeting; echo "labels: $(cat /down/labels)"; echo "name: $(cat /down/name)";
echo "proj: $(cat /proj/g) $(cat /proj/password)"; ls /proj/9lives /cfg/9lives; echo "host: $(cat /host/marker)"; echo hi > /data/x; touch /secret/x 2>/dev/null || echo secret-ro;
while true; do echo "watch: $(cat /cfg/greeting) $(cat /cfgfile)"; sleep 1; done`
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: vols}}
spec:
  volumes:
  - {name: data, emptyDir: {}}
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 16Mi}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: sec, secret: {secretName: sec, defaultMode: 0400}}
  - name: down
    downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}, {path: name, fieldRef: {fieldPath: metadata.name}}]}
  - name: proj
    projected: {sources: [{configMap: {name: cfg, items: [{key: greeting, path: g}]}}, {secret: {name: sec}}]}
  - {name: host, hostPath: {path: %s, type: Directory}}
  containers:
  - name: writer
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, %q]
    env:
    - {name: GREETING, valueFrom: {configMapKeyRef: {name: cfg, key: greeting}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    envFrom: [{prefix: CFG_, configMapRef: {name: cfg}}, {configMapRef: {name: cfg}}]
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: mem, mountPath: /mem}
    - {name: cfg, mountPath: /cfg}
    - {name: cfg, mountPath: /cfgfile, subPath: app.conf}
    - {name: sec, mountPath: /secret}
    - {name: down, mountPath: /down}
    - {name: proj, mountPath: /proj}
    - {name: host, mountPath: /host, readOnly: true}
  - name: server
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [httpd, -f, -p, "8080", -h, /data]
    volumeMounts: [{name: data, mountPath: /data}]
`, hostDir, script)
	d.mustKubectl("1.27", manifest, "apply", "-f", "-")
	d.waitRunning("1.27", "default", "vols", "2/2")
	pod := d.pod("default", "vols")
	fp := d.capture(t, "default", "vols")

	// The server container serves what the writer wrote in the shared emptyDir.
	var body string
	d.waitFor("the shared emptyDir over HTTP", 30*time.Second, func() (bool, error) {
		resp, err := http.Get("http://" + pod.Status.PodIP + ":8080/x")
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200, nil
	})
	if body != "hi\n" {
		t.Errorf("served /data/x = %q, want hi", body)
	}
	logs := ""
	d.waitFor("the writer's report", 30*time.Second, func() (bool, error) {
		logs, _, _ = d.kubectl("1.33", "", "logs", "vols", "-c", "writer")
		return strings.Contains(logs, "watch: "), nil
	})
	for _, want := range []string{
		"env=hello,pw-123,hello,hello",
		"/mem tmpfs rw", "/secret tmpfs ro", "/data ",
		"mode 400 /secret/password", "mode 644 /cfg/greeting",
		"\n/cfg/9lives\n", "/proj/9lives: No such file or directory", // items pick keys
		`labels: app="vols"`, "name: vols", "proj: hello pw-123", "host: from-the-host", "secret-ro",
		"watch: hello v1",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("writer output lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "/data tmpfs") {
		t.Errorf("a disk emptyDir is a tmpfs:\n%s", logs)
	}
	evs := d.mustKubectl("1.33", "", "get", "events", "--field-selector", "reason=InvalidEnvironmentVariableNames", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(evs, "Keys [9lives] from the EnvFrom configMap default/cfg were skipped since they are considered invalid environment variable names.") {
		t.Errorf("InvalidEnvironmentVariableNames event: %q", evs)
	}

	// A change to the ConfigMap reaches the mounted file without a
	// restart; the subPath mount keeps the file it got.
	d.mustKubectl("1.33", "", "patch", "configmap", "cfg", "-p", `{"data":{"greeting":"bonjour","app.conf":"v2"}}`)
	d.waitFor("the updated ConfigMap in the volume", 60*time.Second, func() (bool, error) {
		logs, _, _ = d.kubectl("1.33", "", "logs", "vols", "-c", "writer", "--tail", "1")
		return strings.Contains(logs, "watch: bonjour"), nil
	})
	if !strings.Contains(logs, "watch: bonjour v1") {
		t.Errorf("after the update: %q, want the subPath file unchanged (v1)", logs)
	}
	if p := d.pod("default", "vols"); p.Status.ContainerStatuses[0].RestartCount+p.Status.ContainerStatuses[1].RestartCount != 0 {
		t.Errorf("containers restarted for a ConfigMap change")
	}

	// Another pod's emptyDir of the same name is its own.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: other}
spec:
  restartPolicy: Never
  volumes: [{name: data, emptyDir: {sizeLimit: 1Mi}}]
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, "ls /data/x 2>/dev/null || echo no-x"], volumeMounts: [{name: data, mountPath: /data}]}
`, "apply", "-f", "-")
	if out := d.succeededLogs("other"); strings.TrimSpace(out) != "no-x" {
		t.Errorf("another pod sees the emptyDir: %q", out)
	}

	// fsGroup: the volumes belong to the group, a container running as
	// another user has it as a supplementary group and reads the secret.
	d.mustKubectl("1.27", `apiVersion: v1
kind: Pod
metadata: {name: owned}
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 1000, fsGroup: 2000}
  volumes: [{name: scratch, emptyDir: {}}, {name: sec, secret: {secretName: sec, defaultMode: 0400}}]
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "echo uid=$(id -u) groups=$(id -G); touch /scratch/f; stat -c 'scratch %g %a' /scratch; stat -c 'new %g' /scratch/f; stat -L -c 'secret %g %a' /secret/password; cat /secret/password"]
    volumeMounts: [{name: scratch, mountPath: /scratch}, {name: sec, mountPath: /secret}]
`, "apply", "-f", "-")
	d.waitFor("the owned pod to finish", 60*time.Second, func() (bool, error) {
		ph := d.pod("default", "owned").Status.Phase
		return ph == "Succeeded" || ph == "Failed", nil
	})
	out := d.mustKubectl("1.33", "", "logs", "owned")
	for _, want := range []string{"uid=1000 ", " 2000", "scratch 2000 2777", "new 2000", "secret 2000 440", "pw-123"} {
		if !strings.Contains(out, want) {
			t.Errorf("fsGroup pod output lacks %q:\n%s", want, out)
		}
	}

	// Missing objects: a key reference fails the container with
	// CreateContainerConfigError until the object exists; a volume of a
	// missing ConfigMap is a FailedMount and the pod waits.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: late}
spec:
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    env: [{name: X, valueFrom: {configMapKeyRef: {name: later, key: x}}}]
`, "apply", "-f", "-")
	d.waitFor("CreateContainerConfigError", 60*time.Second, func() (bool, error) {
		p := d.pod("default", "late")
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" && w.Message == `configmap "later" not found` {
				return true, nil
			}
		}
		return false, nil
	})
	if row := d.podRow("1.27", "default", "late"); len(row) < 3 || row[2] != "CreateContainerConfigError" {
		t.Errorf("kubectl get pod late: %v", row)
	}
	d.mustKubectl("1.33", "", "create", "configmap", "later", "--from-literal=x=1")
	d.waitRunning("1.33", "default", "late", "1/1")

	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: nocm}
spec:
  volumes: [{name: cfg, configMap: {name: absent}}]
  containers:
  - {name: c, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"], volumeMounts: [{name: cfg, mountPath: /cfg}]}
`, "apply", "-f", "-")
	d.waitFor("the FailedMount event", 60*time.Second, func() (bool, error) {
		out, _, _ := d.kubectl("1.33", "", "get", "events", "--field-selector", "involvedObject.name=nocm,reason=FailedMount", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, `MountVolume.SetUp failed for volume "cfg" : configmap "absent" not found`), nil
	})
	if row := d.podRow("1.33", "default", "nocm"); len(row) < 3 || row[2] != "ContainerCreating" {
		t.Errorf("kubectl get pod nocm: %v", row)
	}

	// Volume types peapod cannot provide are refused, never ignored;
	// mounts must name a volume.
	for _, tc := range []struct{ volumes, mounts, says string }{
		{`[{name: share, nfs: {server: 10.0.0.1, path: /x}}]`, `[{name: share, mountPath: /n}]`,
			`spec.volumes[0].nfs: Forbidden: nfs volumes are not supported by peapod (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected, image, persistentVolumeClaim)`},
		{`[{name: disk, iscsi: {targetPortal: "10.0.0.1:3260", iqn: "iqn.2001-04.com.example:storage", lun: 0}}]`, `[{name: disk, mountPath: /c}]`, `spec.volumes[0].iscsi: Forbidden: iscsi volumes are not supported by peapod`},
		{`[]`, `[{name: missing, mountPath: /m}]`, `spec.containers[0].volumeMounts[0].name: Not found: "missing"`},
		{`[{name: scratch, emptyDir: {}}]`, `[{name: scratch, mountPath: /a, subPath: ../x}]`, `spec.containers[0].volumeMounts[0].subPath: Invalid value: "../x": must not contain '..'`},
	} {
		for _, v := range []string{"1.27", "1.33"} {
			_, errOut, err := d.kubectl(v, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: refused}\nspec:\n  volumes: %s\n  containers: [{name: c, image: busybox, volumeMounts: %s}]\n", tc.volumes, tc.mounts), "apply", "-f", "-")
			if err == nil || !strings.Contains(errOut, tc.says) {
				t.Errorf("kubectl %s apply: %v, want %q in:\n%s", v, err, tc.says, errOut)
			}
		}
	}

	// Nothing of the pod stays: its tmpfs mounts and directories go.
	d.mustKubectl("1.33", "", "delete", "pod", "vols", "--grace-period=1", "--wait=false")
	d.waitFor("the pod to be gone", 60*time.Second, func() (bool, error) {
		_, _, err := d.kubectl("1.33", "", "get", "pod", "vols")
		return err != nil, nil
	})
	d.check(t, fp)
	if _, err := os.Stat(d.path("data/kubelet/pods/" + string(pod.UID))); !os.IsNotExist(err) {
		t.Errorf("the pod's directory is left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "marker")); err != nil {
		t.Errorf("the hostPath's content went with the pod: %v", err)
	}
}

// TestImageVolume: an image volume (volumes[].image) mounts an image
// pulled from a registry, read-only even where the mount does not say so,
// or a subPath of it; its pull policy defaults as a container's; the pull
// events are the pod's; a pull that fails keeps the container waiting
// with the pull's reason; a bad source is refused; and nothing of it stays
// after the pod.
func TestImageVolume(t *testing.T) {
	d := startDaemon(t)
	host := startRegistry(t, "e2e/tools:1.0")
	d.mirror(t, "registry.k8s.io", host)
	d.mustKubectl("1.27", `apiVersion: v1
kind: Pod
metadata: {name: imgvol}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: tools, image: {reference: "registry.k8s.io/e2e/tools:1.0"}}]
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "3600"]
    volumeMounts:
    - {name: tools, mountPath: /tools}
    - {name: tools, mountPath: /tbin, subPath: bin}
`, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "imgvol", "1/1")
	if got := d.mustKubectl("1.33", "", "get", "pod", "imgvol", "-o", "jsonpath={.spec.volumes[0].image.pullPolicy}"); got != "IfNotPresent" {
		t.Errorf("defaulted pullPolicy %q, want IfNotPresent", got)
	}
	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{"/tools/bin/busybox echo from the image", "from the image"},
		{"/tbin/echo sub path", "sub path"},
		{"touch /tools/new 2>&1 || true", "Read-only file system"},
		{"ls /tbin/bin 2>&1 || true", "No such file"},
	} {
		out, errOut, err := d.kubectl("1.33", "", "exec", "imgvol", "--", "sh", "-c", tc.cmd)
		if err != nil || !strings.Contains(out, tc.want) {
			t.Errorf("exec %q: %q %q %v, want %q", tc.cmd, out, errOut, err, tc.want)
		}
	}
	events := d.mustKubectl("1.27", "", "get", "events", "--field-selector", "involvedObject.name=imgvol", "-o", "jsonpath={range .items[*]}{.reason}|{.involvedObject.fieldPath}|{.message}{\"\\n\"}{end}")
	if !strings.Contains(events, `Pulling||Pulling image "registry.k8s.io/e2e/tools:1.0"`) || !strings.Contains(events, `Pulled||Successfully pulled image "registry.k8s.io/e2e/tools:1.0"`) {
		t.Errorf("the image volume's pull events are not the pod's:\n%s", events)
	}
	fp := d.capture(t, "default", "imgvol")

	// An image that cannot be pulled keeps the container waiting.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: noimg}
spec:
  terminationGracePeriodSeconds: 1
  volumes: [{name: tools, image: {reference: "registry.k8s.io/e2e/nope:1", pullPolicy: Always}}]
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: [sleep, "3600"], volumeMounts: [{name: tools, mountPath: /tools}]}
`, "apply", "-f", "-")
	d.waitFor("the container to wait on the image volume's pull", 60*time.Second, func() (bool, error) {
		row := d.podRow("1.33", "default", "noimg")
		return len(row) > 2 && (row[2] == "ErrImagePull" || row[2] == "ImagePullBackOff"), nil
	})

	// A bad source is refused, whole.
	for _, tc := range []struct{ volume, says string }{
		{`{name: v, image: {pullPolicy: Always}}`, `spec.volumes[0].image.reference: Required value`},
		{`{name: v, image: {reference: busybox, pullPolicy: Sometimes}}`, `spec.volumes[0].image.pullPolicy: Unsupported value: "Sometimes": supported values: "Always", "IfNotPresent", "Never"`},
	} {
		for _, v := range []string{"1.27", "1.33"} {
			_, errOut, err := d.kubectl(v, fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: refused}\nspec:\n  volumes: [%s]\n  containers: [{name: c, image: busybox}]\n", tc.volume), "apply", "-f", "-")
			if err == nil || !strings.Contains(errOut, tc.says) {
				t.Errorf("kubectl %s apply: %v, want %q in:\n%s", v, err, tc.says, errOut)
			}
		}
	}
	d.mustKubectl("1.33", "", "delete", "pod", "imgvol", "noimg", "--grace-period=1")
	d.check(t, fp)
}
