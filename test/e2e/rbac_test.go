package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// userKubeconfig makes a kubeconfig for a user with peapod's own command,
// as a cluster admin gives one to a team member.
func (d *daemon) userKubeconfig(t *testing.T, name string, groups ...string) string {
	t.Helper()
	path := d.path(name + ".kubeconfig")
	args := []string{"kubeconfig", "--data-dir", d.path("data"), "--kubeconfig", d.kubeconfig, "--user", name, "-o", path}
	for _, g := range groups {
		args = append(args, "--group", g)
	}
	if out, err := exec.Command(peapodBin, args...).CombinedOutput(); err != nil {
		t.Fatalf("peapod %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("user kubeconfig %s: %v %v", path, fi, err)
	}
	return path
}

// as runs kubectl with a user's kubeconfig.
func (d *daemon) as(kubeconfig, version, stdin string, args ...string) (string, string, error) {
	return d.kubectl(version, stdin, append([]string{"--kubeconfig", kubeconfig}, args...)...)
}

// TestRBAC gives alice one namespace, as the README shows, and checks what
// she can and cannot do there and elsewhere with kubectl 1.27 and 1.33:
// the upstream 403s, can-i, whoami, exec and port-forward, escalation
// prevention and impersonation.
func TestRBAC(t *testing.T) {
	d := startDaemon(t)
	alice := d.userKubeconfig(t, "alice", "dev")
	d.mustKubectl("1.33", "", "create", "namespace", "demo")
	d.mustKubectl("1.33", "", "create", "rolebinding", "alice-edit", "--clusterrole=edit", "--user=alice", "-n", "demo")

	for _, v := range []string{"1.27", "1.33"} {
		// whoami: 1.27 asks authentication.k8s.io/v1beta1, 1.33 v1.
		out, errOut, err := d.as(alice, v, "", "auth", "whoami")
		if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "[dev system:authenticated]") {
			t.Errorf("kubectl %s auth whoami: %v %s %s", v, err, out, errOut)
		}
		_, errOut, err = d.as(alice, v, "", "get", "pods", "-n", "default")
		if want := `Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"`; err == nil || strings.TrimSpace(errOut) != want {
			t.Errorf("kubectl %s get pods -n default as alice:\n got %s\nwant %s", v, errOut, want)
		}
		if out, _, _ := d.as(alice, v, "", "auth", "can-i", "create", "pods", "-n", "demo"); strings.TrimSpace(out) != "yes" {
			t.Errorf("kubectl %s auth can-i create pods -n demo: %q", v, out)
		}
		if out, _, _ := d.as(alice, v, "", "auth", "can-i", "create", "pods", "-n", "default"); strings.TrimSpace(out) != "no" {
			t.Errorf("kubectl %s auth can-i create pods -n default: %q", v, out)
		}
		if out, _, _ := d.as(alice, v, "", "auth", "can-i", "get", "secrets", "-n", "demo"); strings.TrimSpace(out) != "yes" {
			t.Errorf("kubectl %s auth can-i get secrets -n demo: %q", v, out)
		}
		if out, _, _ := d.as(alice, v, "", "auth", "can-i", "create", "roles", "-n", "demo"); strings.TrimSpace(out) != "no" {
			t.Errorf("kubectl %s auth can-i create roles -n demo (edit cannot): %q", v, out)
		}
	}

	// can-i --list is the edit role (plus what every user may do).
	list := d.mustKubectl("1.33", "", "--kubeconfig", alice, "auth", "can-i", "--list", "-n", "demo")
	for _, want := range [][]string{
		{"pods", "[]", "[]", "[create delete deletecollection patch update get list watch]"},
		{"pods/exec", "[]", "[]", "[get list watch create delete deletecollection patch update]"},
		{"deployments.apps", "[]", "[]", "[create delete deletecollection patch update get list watch]"},
		{"secrets", "[]", "[]", "[get list watch create delete deletecollection patch update]"},
		{"pods/log", "[]", "[]", "[get list watch]"},
		{"selfsubjectaccessreviews.authorization.k8s.io", "[]", "[]", "[create]"},
		{"[/api/*]", "[]", "[get]"},
	} {
		if !slices.ContainsFunc(strings.Split(list, "\n"), func(l string) bool {
			return strings.Join(strings.Fields(l), " ") == strings.Join(want, " ")
		}) {
			t.Errorf("auth can-i --list -n demo lacks %v:\n%s", want, list)
		}
	}
	if strings.Contains(list, "roles.rbac.authorization.k8s.io") || strings.Contains(list, "*.*") {
		t.Errorf("auth can-i --list -n demo grants more than edit:\n%s", list)
	}

	// Pods, exec, logs and port-forward in demo.
	if _, errOut, err := d.as(alice, "1.33", streamingPods, "apply", "-n", "demo", "-f", "-"); err != nil {
		t.Fatalf("alice creating pods in demo: %v %s", err, errOut)
	}
	d.waitFor("web in demo", 60*time.Second, func() (bool, error) {
		out, _, err := d.as(alice, "1.33", "", "get", "pod", "web", "-n", "demo", "--no-headers")
		return err == nil && strings.Contains(out, "3/3"), nil
	})
	for _, v := range []string{"1.27", "1.33"} {
		out, errOut, err := d.as(alice, v, "", "exec", "-n", "demo", "web", "-c", "httpd", "--", "cat", "/www/index.html")
		if err != nil || out != "hello\n" {
			t.Errorf("kubectl %s exec as alice: %v %q %s", v, err, out, errOut)
		}
		if _, errOut, err := d.as(alice, v, "", "logs", "-n", "demo", "web", "-c", "httpd"); err != nil {
			t.Errorf("kubectl %s logs as alice: %v %s", v, err, errOut)
		}
		port := freePorts(t, 1)[0]
		pf := startPortForwardAs(t, d, v, alice, "demo", "pod/web", fmt.Sprintf("%d:80", port))
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			t.Errorf("kubectl %s port-forward as alice: %v", v, err)
		} else {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello\n" {
				t.Errorf("kubectl %s port-forward as alice: %q", v, body)
			}
		}
		pf.stop(t)
	}
	if _, errOut, err := d.as(alice, "1.33", "", "exec", "-n", "default", "nothing", "--", "true"); err == nil ||
		!strings.Contains(errOut, `pods "nothing" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "default"`) {
		t.Errorf("exec in default as alice: %v %s", err, errOut)
	}

	// Escalation: with edit, alice may not write roles at all; with
	// admin in demo she may, but only within what she holds.
	_, errOut, err := d.as(alice, "1.33", "", "create", "role", "all-secrets", "--verb=*", "--resource=secrets", "-n", "default")
	if err == nil || !strings.Contains(errOut, `roles.rbac.authorization.k8s.io is forbidden: User "alice" cannot create resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "default"`) {
		t.Errorf("alice creating a role in default: %v %s", err, errOut)
	}
	d.mustKubectl("1.33", "", "create", "rolebinding", "alice-admin", "--clusterrole=admin", "--user=alice", "-n", "demo")
	for _, v := range []string{"1.27", "1.33"} {
		_, errOut, err = d.as(alice, v, "", "create", "role", "all-secrets", "--verb=*", "--resource=secrets", "-n", "demo")
		if want := `roles.rbac.authorization.k8s.io "all-secrets" is forbidden: user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
			"\n" + `{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s: alice granting secrets *: %v\n got %s\nwant %s", v, err, errOut, want)
		}
		_, errOut, err = d.as(alice, v, "", "create", "rolebinding", "alice-root", "--clusterrole=cluster-admin", "--user=alice", "-n", "demo")
		if want := `rolebindings.rbac.authorization.k8s.io "alice-root" is forbidden: user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
			"\n" + `{APIGroups:["*"], Resources:["*"], Verbs:["*"]}` + "\n" + `{NonResourceURLs:["*"], Verbs:["*"]}`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s: alice binding cluster-admin: %v\n got %s\nwant %s", v, err, errOut, want)
		}
	}
	// Within her rights she may: a role and a binding of it to bob.
	if _, errOut, err := d.as(alice, "1.33", "", "create", "role", "pod-reader", "--verb=get,list", "--resource=pods", "-n", "demo"); err != nil {
		t.Errorf("alice creating a role within her rights: %v %s", err, errOut)
	}
	if _, errOut, err := d.as(alice, "1.27", "", "create", "rolebinding", "bob-reads", "--role=pod-reader", "--user=bob", "-n", "demo"); err != nil {
		t.Errorf("alice binding it: %v %s", err, errOut)
	}
	// The admin can do what alice could not.
	d.mustKubectl("1.33", "", "create", "role", "all-secrets", "--verb=*", "--resource=secrets", "-n", "default")
	d.mustKubectl("1.33", "", "create", "rolebinding", "alice-root", "--clusterrole=cluster-admin", "--user=alice", "-n", "demo")
	d.mustKubectl("1.33", "", "delete", "rolebinding", "alice-root", "-n", "demo")

	// Impersonation: the admin may act as anyone; alice may not.
	for _, v := range []string{"1.27", "1.33"} {
		if out, errOut, err := d.kubectl(v, "", "--as=bob", "get", "pods", "-n", "demo", "-o", "name"); err != nil || !strings.Contains(out, "pod/web") {
			t.Errorf("kubectl %s --as=bob get pods -n demo: %v %s %s", v, err, out, errOut)
		}
		_, errOut, err := d.kubectl(v, "", "--as=bob", "delete", "pod", "web", "-n", "demo")
		if want := `pods "web" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "demo"`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s --as=bob delete: %v %s", v, err, errOut)
		}
		if out, _, _ := d.kubectl(v, "", "--as=alice", "--as-group=dev", "auth", "whoami"); !strings.Contains(out, "alice") || !strings.Contains(out, "[dev system:authenticated]") {
			t.Errorf("kubectl %s --as=alice --as-group=dev auth whoami: %s", v, out)
		}
		_, errOut, err = d.as(alice, v, "", "--as=bob", "get", "pods", "-n", "demo")
		if want := `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s --as=bob as alice: %v %s", v, err, errOut)
		}
	}
	if out := d.mustKubectl("1.33", "", "auth", "can-i", "--list", "-n", "demo", "--as=bob"); !strings.Contains(out, "pods ") || strings.Contains(out, "secrets") {
		t.Errorf("auth can-i --list --as=bob:\n%s", out)
	}

	// A namespace is in itself: her RoleBinding lets alice read demo.
	if out, errOut, err := d.as(alice, "1.27", "", "get", "namespace", "demo", "-o", "name"); err != nil || strings.TrimSpace(out) != "namespace/demo" {
		t.Errorf("alice getting namespace demo: %v %s %s", err, out, errOut)
	}
	// Labelling a ClusterRole (which may feed it into view) is checked
	// like changing its rules.
	d.mustKubectl("1.33", "", "create", "clusterrole", "role-labeller", "--verb=get,list,patch,update", "--resource=clusterroles")
	d.mustKubectl("1.33", "", "create", "clusterrolebinding", "alice-labels", "--clusterrole=role-labeller", "--user=alice")
	_, errOut, err = d.as(alice, "1.33", "", "label", "clusterrole", "cluster-admin", "rbac.authorization.k8s.io/aggregate-to-view=true")
	if err == nil || !strings.Contains(errOut, `clusterroles.rbac.authorization.k8s.io "cluster-admin" is forbidden: user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:`) {
		t.Errorf("alice labelling cluster-admin for aggregation: %v %s", err, errOut)
	}
	// An exec over WebSocket (kubectl 1.33) needs create on pods/exec,
	// as the POST of kubectl 1.27 does.
	d.mustKubectl("1.33", "", "create", "role", "exec-get-only", "--verb=get", "--resource=pods,pods/exec", "-n", "demo")
	d.mustKubectl("1.33", "", "create", "rolebinding", "carol-exec", "--role=exec-get-only", "--user=carol", "-n", "demo")
	for _, v := range []string{"1.27", "1.33"} {
		_, errOut, err := d.kubectl(v, "", "--as=carol", "exec", "-n", "demo", "web", "-c", "httpd", "--", "true")
		if want := `pods "web" is forbidden: User "carol" cannot create resource "pods/exec" in API group "" in the namespace "demo"`; err == nil || !strings.Contains(errOut, want) {
			t.Errorf("kubectl %s exec with get only: %v %s", v, err, errOut)
		}
	}

	// A SubjectAccessReview asks about someone else.
	sar := `{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","groups":["dev"],` +
		`"resourceAttributes":{"namespace":"demo","verb":"create","resource":"pods","subresource":"exec"}}}`
	if out := d.mustKubectl("1.27", sar, "create", "-f", "-", "-o", "jsonpath={.status.allowed} {.status.reason}"); out !=
		`true RBAC: allowed by RoleBinding "alice-admin/demo" of ClusterRole "admin" to User "alice"` {
		t.Errorf("SubjectAccessReview: %s", out)
	}
	if _, errOut, err := d.as(alice, "1.33", sar, "create", "-f", "-"); err == nil ||
		!strings.Contains(errOut, `subjectaccessreviews.authorization.k8s.io is forbidden: User "alice" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope`) {
		t.Errorf("SubjectAccessReview as alice: %v %s", err, errOut)
	}

	// Approving a CSR needs update on certificatesigningrequests/approval
	// and approve on its signer (CertificateApproval).
	_, req := newCSR(t, "dave")
	d.mustKubectl("1.33", csrManifest("dave", req, "kubernetes.io/kube-apiserver-client", "", "client auth"), "create", "-f", "-")
	d.mustKubectl("1.33", "", "create", "clusterrole", "csr-approval", "--verb=get,list,watch", "--resource=certificatesigningrequests")
	d.mustKubectl("1.33", "", "patch", "clusterrole", "csr-approval", "--type=json", "-p",
		`[{"op":"add","path":"/rules/-","value":{"apiGroups":["certificates.k8s.io"],"resources":["certificatesigningrequests/approval"],"verbs":["update"]}}]`)
	d.mustKubectl("1.33", "", "create", "clusterrolebinding", "alice-csr", "--clusterrole=csr-approval", "--user=alice")
	_, errOut, err = d.as(alice, "1.33", "", "certificate", "approve", "dave")
	if want := `certificatesigningrequests.certificates.k8s.io "dave" is forbidden: user not permitted to approve requests with signerName "kubernetes.io/kube-apiserver-client"`; err == nil || !strings.Contains(errOut, want) {
		t.Errorf("approving without approve on the signer: %v %s", err, errOut)
	}
	d.mustKubectl("1.33", "", "create", "clusterrolebinding", "alice-approver", "--clusterrole=system:certificates.k8s.io:kube-apiserver-client-approver", "--user=alice")
	if _, errOut, err := d.as(alice, "1.27", "", "certificate", "approve", "dave"); err != nil {
		t.Errorf("approving with the approver role: %v %s", err, errOut)
	}

	// The bootstrap policy is there, as upstream's.
	out := d.mustKubectl("1.27", "", "get", "clusterrolebindings", "-o", "wide")
	for _, want := range [][]string{
		{"cluster-admin", "ClusterRole/cluster-admin", "system:masters"},
		{"system:discovery", "ClusterRole/system:discovery", "system:authenticated"},
	} {
		if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
			f := strings.Fields(l)
			return len(f) >= 4 && f[0] == want[0] && f[1] == want[1] && f[3] == want[2]
		}) {
			t.Errorf("clusterrolebindings lack %v:\n%s", want, out)
		}
	}
}

// TestAuthorizationEverywhere is a table of every API path peapod serves
// (from discovery, with every subresource) × verbs, asked by a user
// bound to nothing: each answer must be 403 with the upstream message,
// except what the default policy grants every user (discovery, the self
// reviews). Nothing reachable escapes the authorizer.
func TestAuthorizationEverywhere(t *testing.T) {
	d := startDaemon(t, withArgs("--anonymous-auth"))
	nobody := d.userKubeconfig(t, "nobody")
	cfg, err := clientcmd.LoadFromFile(nobody)
	if err != nil {
		t.Fatal(err)
	}
	ctxName := cfg.CurrentContext
	auth := cfg.AuthInfos[cfg.Contexts[ctxName].AuthInfo]
	cluster := cfg.Clusters[cfg.Contexts[ctxName].Cluster]
	cert, err := tls.X509KeyPair(auth.ClientCertificateData, auth.ClientKeyData)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cluster.CertificateAuthorityData)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(c *http.Client, method, path string) (int, string) {
		req, _ := http.NewRequest(method, cluster.Server+path, strings.NewReader("{}"))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	// Every resource of every group version, as the admin discovers them.
	out := d.mustKubectl("1.33", "", "api-resources", "-o", "wide", "--no-headers")
	type res struct {
		gv, name   string
		namespaced bool
	}
	var resources []res
	gvs := d.mustKubectl("1.33", "", "api-versions")
	for _, gv := range strings.Fields(gvs) {
		prefix := "/apis/" + gv
		if gv == "v1" {
			prefix = "/api/v1"
		}
		code, body := do(client, http.MethodGet, prefix)
		if code != 200 {
			t.Errorf("discovery of %s for nobody: %d %s", gv, code, body)
			continue
		}
		for _, line := range strings.Split(body, `"name":"`)[1:] {
			name := line[:strings.Index(line, `"`)]
			resources = append(resources, res{prefix, name, strings.Contains(line[:strings.Index(line, "}")], `"namespaced":true`)})
		}
	}
	if len(resources) < 40 {
		t.Fatalf("only %d resources discovered:\n%s", len(resources), out)
	}
	allowed := map[string]bool{
		"selfsubjectreviews": true, "selfsubjectaccessreviews": true, "selfsubjectrulesreviews": true,
	}
	checked := 0
	for _, r := range resources {
		base, sub, _ := strings.Cut(r.name, "/")
		var paths []string
		if r.namespaced {
			paths = append(paths, r.gv+"/namespaces/default/"+base)
		} else {
			paths = append(paths, r.gv+"/"+base)
		}
		if sub != "" {
			paths = []string{paths[0] + "/x/" + sub}
		} else {
			paths = append(paths, paths[0]+"/x")
		}
		for _, p := range paths {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				code, body := do(client, method, p)
				checked++
				if allowed[base] && method == http.MethodPost {
					continue
				}
				if code != http.StatusForbidden || !strings.Contains(body, `User \"nobody\" cannot `) {
					t.Errorf("%s %s as nobody: %d %s", method, p, code, body)
				}
			}
		}
	}
	for _, p := range []string{"/metrics", "/logs", "/debug/pprof/", "/nothing", "/apis/metrics.k8s.io/v1beta1/nodes", "/api/v1/watch/pods"} {
		if code, body := do(client, http.MethodGet, p); code != http.StatusForbidden {
			t.Errorf("GET %s as nobody: %d %s", p, code, body)
		}
	}
	// What every user may read: discovery and health.
	for _, p := range []string{"/api", "/apis", "/version", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3"} {
		if code, body := do(client, http.MethodGet, p); code != http.StatusOK {
			t.Errorf("GET %s as nobody: %d %s", p, code, body)
		}
	}
	// Anonymous (--anonymous-auth): health and version only.
	for p, want := range map[string]int{"/healthz": 200, "/version": 200, "/readyz": 200, "/api": 403, "/api/v1/pods": 403, "/metrics": 403} {
		if code, body := do(anonymous, http.MethodGet, p); code != want {
			t.Errorf("GET %s anonymously: %d, want %d: %s", p, code, want, body)
		}
	}
	if _, body := do(anonymous, http.MethodGet, "/api/v1/pods"); !strings.Contains(body, `pods is forbidden: User \"system:anonymous\" cannot list resource \"pods\" in API group \"\" at the cluster scope`) {
		t.Errorf("anonymous list: %s", body)
	}
	t.Logf("%d requests checked over %d resources", checked, len(resources))
}
