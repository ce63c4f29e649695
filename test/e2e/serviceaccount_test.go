package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// TestServiceAccountTokens drives the service-account machinery with the
// real kubectl: the token volume every pod gets (and the one that opts
// out), kubectl inside a pod talking to the API with the pod's own
// identity and the rights its RoleBinding gives (and no more), `kubectl
// create token` and a token bound to a pod that stops working once the pod
// is gone, and the admission of a missing account.
func TestServiceAccountTokens(t *testing.T) {
	d := startDaemon(t)
	inPod := func(v, name, automount, script string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  %s
  containers:
  - name: c
    image: busybox
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", %q]
    env: [{name: HOME, value: /tmp}]
    volumeMounts: [{name: kubectl, mountPath: /kubectl, readOnly: true}]
  volumes:
  - name: kubectl
    hostPath: {path: %s, type: File}
`, name, automount, script, kubectls[v])
	}
	// A service account may do what its bindings allow and no more: the
	// default account of default may read pods there (a Role bound to
	// it), nothing else.
	d.mustKubectl("1.33", "", "create", "role", "pod-reader", "--verb=get,list,watch", "--resource=pods")
	d.mustKubectl("1.27", "", "create", "rolebinding", "default-reads-pods", "--role=pod-reader", "--serviceaccount=default:default")
	for _, v := range []string{"1.27", "1.33"} {
		name := "api" + strings.ReplaceAll(v, ".", "")
		// A new namespace gets the CA ConfigMap.
		d.mustKubectl(v, "", "create", "namespace", "sa"+strings.ReplaceAll(v, ".", ""))
		d.waitFor("kube-root-ca.crt in the new namespace", 10*time.Second, func() (bool, error) {
			_, _, err := d.kubectl(v, "", "-n", "sa"+strings.ReplaceAll(v, ".", ""), "get", "configmap", "kube-root-ca.crt")
			return err == nil, nil
		})

		script := `cd /var/run/secrets/kubernetes.io/serviceaccount && ls && cat namespace && echo && ` +
			`/kubectl get pods -o name && /kubectl get pods -n kube-system 2>&1; ` +
			`/kubectl delete pod ` + name + ` 2>&1; echo end`
		d.mustKubectl(v, inPod(v, name, "", script), "apply", "-f", "-")
		logs := d.succeededLogs(name)
		for _, want := range []string{
			"ca.crt\nnamespace\ntoken\ndefault\n",
			"pod/" + name + "\n",
			`pods is forbidden: User "system:serviceaccount:default:default" cannot list resource "pods" in API group "" in the namespace "kube-system"`,
			`pods "` + name + `" is forbidden: User "system:serviceaccount:default:default" cannot delete resource "pods" in API group "" in the namespace "default"`,
		} {
			if !strings.Contains(logs, want) {
				t.Errorf("kubectl %s in a pod: logs lack %q:\n%s", v, want, logs)
			}
		}
		// The admission plugin's volume and mount, and the env.
		p := d.pod("default", name)
		var vol *corev1.Volume
		for i := range p.Spec.Volumes {
			if strings.HasPrefix(p.Spec.Volumes[i].Name, "kube-api-access-") {
				vol = &p.Spec.Volumes[i]
			}
		}
		if vol == nil || vol.Projected == nil || len(vol.Projected.Sources) != 3 || vol.Projected.Sources[0].ServiceAccountToken == nil ||
			*vol.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 {
			t.Errorf("kube-api-access volume: %+v", vol)
		}
		if m := p.Spec.Containers[0].VolumeMounts; len(m) != 2 || m[1].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[1].ReadOnly {
			t.Errorf("mounts: %+v", m)
		}
		d.mustKubectl(v, "", "delete", "pod", name, "--grace-period=0")

		// automountServiceAccountToken: false: nothing mounted.
		off := name + "-off"
		d.mustKubectl(v, inPod(v, off, "automountServiceAccountToken: false",
			`ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1; echo "host=$KUBERNETES_SERVICE_HOST"; /kubectl get pods 2>&1 | tail -1`), "apply", "-f", "-")
		logs = d.succeededLogs(off)
		if !strings.Contains(logs, "No such file or directory") || !strings.Contains(logs, "host=10.") {
			t.Errorf("automount false: %s", logs)
		}
		if p := d.pod("default", off); len(p.Spec.Volumes) != 1 {
			t.Errorf("automount false: volumes %+v", p.Spec.Volumes)
		}
		d.mustKubectl(v, "", "delete", "pod", off, "--grace-period=0")
	}

	// kubectl create token, with and without a bound pod.
	const v = "1.33"
	token := strings.TrimSpace(d.mustKubectl(v, "", "create", "token", "default"))
	claims := jwtClaims(t, token)
	if claims["sub"] != "system:serviceaccount:default:default" || claims["iss"] != "https://kubernetes.default.svc.cluster.local" {
		t.Errorf("token claims: %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("token lifetime %v, want 3600", exp-iat)
	}
	if out := d.mustKubectl(v, "", d.tokenOnly(t, token), "get", "pods", "-o", "name"); strings.TrimSpace(out) != "" {
		t.Errorf("pods listed with the token: %q", out)
	}
	if _, errOut, err := d.kubectl(v, "", d.tokenOnly(t, token), "get", "namespaces"); err == nil ||
		!strings.Contains(errOut, `namespaces is forbidden: User "system:serviceaccount:default:default" cannot list resource "namespaces" in API group "" at the cluster scope`) {
		t.Errorf("namespaces with a namespace's token: %v %s", err, errOut)
	}
	if _, errOut, err := d.kubectl(v, "", d.tokenOnly(t, token+"x"), "get", "pods"); err == nil || !strings.Contains(errOut, "Unauthorized") {
		t.Errorf("a forged token: %v %s", err, errOut)
	}
	if _, errOut, err := d.kubectl(v, "", "create", "token", "default", "--duration", "5m"); err == nil ||
		!strings.Contains(errOut, "spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes") {
		t.Errorf("a 5 minute token: %v %s", err, errOut)
	}
	if _, errOut, err := d.kubectl(v, "", "create", "token", "nobody"); err == nil || !strings.Contains(errOut, `serviceaccounts "nobody" not found`) {
		t.Errorf("token of a missing account: %v %s", err, errOut)
	}

	d.mustKubectl(v, "", "run", "bound", "--image", "busybox", "--image-pull-policy", "IfNotPresent", "--restart", "Never", "--", "sleep", "300")
	d.waitRunning(v, "default", "bound", "1/1")
	fp := d.capture(t, "default", "bound") // its token volume is a tmpfs below the pod's directory
	bound := strings.TrimSpace(d.mustKubectl(v, "", "create", "token", "default", "--bound-object-kind", "Pod", "--bound-object-name", "bound", "--duration", "1h"))
	if pod, _ := jwtClaims(t, bound)["kubernetes.io"].(map[string]any)["pod"].(map[string]any); pod["name"] != "bound" {
		t.Errorf("bound token claims: %v", jwtClaims(t, bound))
	}
	d.mustKubectl(v, "", d.tokenOnly(t, bound), "get", "pod", "bound")
	d.mustKubectl(v, "", "delete", "pod", "bound", "--grace-period=1")
	d.waitFor("bound to be gone", 30*time.Second, func() (bool, error) {
		_, _, err := d.kubectl(v, "", "get", "pod", "bound")
		return err != nil, nil
	})
	if _, errOut, err := d.kubectl(v, "", d.tokenOnly(t, bound), "get", "pods"); err == nil || !strings.Contains(errOut, "Unauthorized") {
		t.Errorf("token of a deleted pod: %v %s", err, errOut)
	}
	d.check(t, fp)

	// A pod naming a service account that does not exist is refused.
	_, errOut, err := d.kubectl(v, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"ghost"},"spec":{"serviceAccountName":"ghost",`+
		`"containers":[{"name":"c","image":"busybox","imagePullPolicy":"IfNotPresent"}]}}`, "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, `pods "ghost" is forbidden: error looking up service account default/ghost: serviceaccount "ghost" not found`) {
		t.Errorf("a pod with a missing service account: %v %s", err, errOut)
	}
	d.waitFor("every pod to be gone", 60*time.Second, func() (bool, error) {
		out, _, err := d.kubectl(v, "", "get", "pods", "-A", "-o", "name")
		return err == nil && strings.TrimSpace(out) == "", nil
	})
}

// jwtClaims decodes the payload of a JWT without checking it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// tokenOnly returns a --kubeconfig flag naming a kubeconfig with the
// daemon's cluster and only a bearer token: with the admin's client
// certificate next to it, the certificate would authenticate the request,
// as on kube-apiserver.
func (d *daemon) tokenOnly(t *testing.T, token string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.ClientCertificateData, a.ClientKeyData, a.Token = nil, nil, token
	}
	f, err := os.CreateTemp(d.dir, "token-*.kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := clientcmd.WriteToFile(*cfg, f.Name()); err != nil {
		t.Fatal(err)
	}
	return "--kubeconfig=" + f.Name()
}
