package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// auditEvents reads every event of the audit log at path and of its
// rotated files; every line must be one whole event.
func auditEvents(t *testing.T, path string) []auditv1.Event {
	t.Helper()
	files, _ := filepath.Glob(strings.TrimSuffix(path, ".log") + "-*.log")
	slices.Sort(files)
	var evs []auditv1.Event
	for _, f := range append(files, path) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var ev auditv1.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
				t.Fatalf("%s: line %q is not an audit.k8s.io/v1 Event: %v", f, sc.Text(), err)
			}
			evs = append(evs, ev)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return evs
}

// findEvent returns the ResponseComplete events of a resource request.
func findEvents(evs []auditv1.Event, verb, resource, ns, name string) []auditv1.Event {
	var out []auditv1.Event
	for _, ev := range evs {
		ref := ev.ObjectRef
		if ev.Stage == auditv1.StageResponseComplete && ev.Verb == verb && ref != nil && ref.Resource == resource && ref.Namespace == ns && (name == "*" || ref.Name == name) {
			out = append(out, ev)
		}
	}
	return out
}

// noSecretIn fails the test if the audit log files under dir hold the
// secret's value, plain or base64.
func noSecretIn(t *testing.T, dir, value string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatalf("no audit log in %s", dir)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{value, base64.StdEncoding.EncodeToString([]byte(value))} {
			if strings.Contains(string(data), s) {
				t.Errorf("%s holds the secret's value %q", f, s)
			}
		}
	}
}

// TestAuditLog drives the daemon with kubectl and checks the audit log of
// the default policy (every request at Metadata, one line each).
func TestAuditLog(t *testing.T) {
	logDir := filepath.Join(t.TempDir(), "audit")
	logPath := filepath.Join(logDir, "audit.log")
	d := startDaemon(t, withArgs("--audit-log-path", logPath))

	for _, version := range []string{"1.27", "1.33"} {
		t.Run("kubectl-"+version, func(t *testing.T) {
			ns := "audit-" + strings.ReplaceAll(version, ".", "-")
			d.mustKubectl(version, "", "create", "namespace", ns)
			d.mustKubectl(version, "", "-n", ns, "get", "pods")
			if _, stderr, err := d.kubectl(version, "", "-n", ns, "get", "pod", "nope"); err == nil || !strings.Contains(stderr, "NotFound") {
				t.Fatalf("get of a missing pod: %v %s", err, stderr)
			}
			bad := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n"
			if _, stderr, err := d.kubectl(version, bad, "-n", ns, "create", "-f", "-"); err == nil || !strings.Contains(stderr, "is invalid") {
				t.Fatalf("create of an invalid configmap: %v %s", err, stderr)
			}
			d.mustKubectl(version, "", "-n", ns, "create", "secret", "generic", "s", "--from-literal=password=hunter2")
			_, stderr, err := d.kubectl(version, "", "-v=8", "get", "namespace", ns)
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`(?i)Audit-Id: ([0-9a-f-]{36})`).FindStringSubmatch(stderr)
			if m == nil {
				t.Fatalf("no Audit-Id response header in kubectl -v=8:\n%s", stderr)
			}
			auditID := m[1]

			evs := auditEvents(t, logPath)
			want := []struct {
				verb, resource, ns, name string
				code                     int32
				reason                   metav1.StatusReason
			}{
				{"create", "namespaces", "", ns, 201, ""},
				{"list", "pods", ns, "", 200, ""},
				{"get", "pods", ns, "nope", 404, metav1.StatusReasonNotFound},
				{"create", "configmaps", ns, "Bad_Name", 422, metav1.StatusReasonInvalid},
				{"create", "secrets", ns, "s", 201, ""},
			}
			for _, w := range want {
				found := findEvents(evs, w.verb, w.resource, w.ns, w.name)
				if len(found) != 1 {
					t.Errorf("%s %s %s/%s: %d ResponseComplete events, want 1", w.verb, w.resource, w.ns, w.name, len(found))
					continue
				}
				ev := found[0]
				if ev.Level != auditv1.LevelMetadata || ev.User.Username != "kubernetes-admin" || !slices.Contains(ev.User.Groups, "system:masters") {
					t.Errorf("%s %s: level %s, user %+v", w.verb, w.resource, ev.Level, ev.User)
				}
				if ev.ObjectRef.APIVersion != "v1" || ev.RequestObject != nil || ev.ResponseObject != nil {
					t.Errorf("%s %s: objectRef %+v, bodies at Metadata: %v %v", w.verb, w.resource, ev.ObjectRef, ev.RequestObject, ev.ResponseObject)
				}
				if st := ev.ResponseStatus; st == nil || st.Code != w.code || st.Reason != w.reason || (w.code >= 400) != (st.Message != "") {
					t.Errorf("%s %s: responseStatus %+v, want code %d reason %q", w.verb, w.resource, ev.ResponseStatus, w.code, w.reason)
				}
				if !strings.HasPrefix(ev.UserAgent, "kubectl") || len(ev.SourceIPs) == 0 || ev.SourceIPs[0] != "127.0.0.1" {
					t.Errorf("%s %s: userAgent %q sourceIPs %v", w.verb, w.resource, ev.UserAgent, ev.SourceIPs)
				}
				if ev.Annotations["authorization.k8s.io/decision"] != "allow" {
					t.Errorf("%s %s: annotations %v", w.verb, w.resource, ev.Annotations)
				}
				if ev.RequestReceivedTimestamp.IsZero() || ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
					t.Errorf("%s %s: timestamps %v %v", w.verb, w.resource, ev.RequestReceivedTimestamp, ev.StageTimestamp)
				}
			}
			// One line per request: every audit ID once, the kubectl one
			// among them.
			seen := map[string]int{}
			for _, ev := range evs {
				if ev.Stage != auditv1.StageResponseComplete {
					t.Errorf("stage %s of %s %s with the default policy", ev.Stage, ev.Verb, ev.RequestURI)
				}
				seen[string(ev.AuditID)]++
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("audit ID %s on %d lines", id, n)
				}
			}
			i := slices.IndexFunc(evs, func(ev auditv1.Event) bool { return string(ev.AuditID) == auditID })
			if i < 0 {
				t.Fatalf("the Audit-Id kubectl got, %s, is not in the log", auditID)
			}
			if ev := evs[i]; ev.Verb != "get" || ev.ObjectRef == nil || ev.ObjectRef.Resource != "namespaces" || ev.ObjectRef.Name != ns || ev.ResponseStatus.Code != 200 {
				t.Errorf("the event of kubectl get namespace %s: %+v", ns, ev)
			}
		})
	}
	noSecretIn(t, logDir, "hunter2")

	// exec (upgraded: SPDY with 1.27, WebSocket with 1.33) and logs are
	// long-running: ResponseStarted, then ResponseComplete.
	d.mustKubectl("1.33", `apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo started; exec sleep 3600"]
`, "apply", "-f", "-")
	d.waitRunning("1.33", "default", "app", "1/1")
	for _, version := range []string{"1.27", "1.33"} {
		if out := d.mustKubectl(version, "", "exec", "app", "--", "echo", "exec-"+version); strings.TrimSpace(out) != "exec-"+version {
			t.Errorf("kubectl %s exec with auditing on: %q", version, out)
		}
		if out := d.mustKubectl(version, "", "logs", "app"); strings.TrimSpace(out) != "started" {
			t.Errorf("kubectl %s logs with auditing on: %q", version, out)
		}
	}
	streams := map[string][]string{}
	for _, ev := range auditEvents(t, logPath) {
		if ref := ev.ObjectRef; ref != nil && ref.Resource == "pods" && ref.Name == "app" && (ref.Subresource == "exec" || ref.Subresource == "log") {
			streams[ref.Subresource] = append(streams[ref.Subresource], fmt.Sprintf("%s:%d", ev.Stage, ev.ResponseStatus.Code))
		}
	}
	wantStreams := map[string][]string{
		"exec": {"ResponseStarted:101", "ResponseComplete:101", "ResponseStarted:101", "ResponseComplete:101"},
		"log":  {"ResponseStarted:200", "ResponseComplete:200", "ResponseStarted:200", "ResponseComplete:200"},
	}
	for sub, want := range wantStreams {
		if !slices.Equal(streams[sub], want) {
			t.Errorf("pods/%s events %v, want %v", sub, streams[sub], want)
		}
	}

	// A watch is long-running: ResponseStarted, then ResponseComplete.
	timeout := int64(1)
	w, err := d.client.CoreV1().Namespaces().Watch(context.Background(), metav1.ListOptions{TimeoutSeconds: &timeout})
	if err != nil {
		t.Fatal(err)
	}
	for range w.ResultChan() {
	}
	// Without credentials: audited with no user (401).
	cfg, err := clientcmd.LoadFromFile(d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	anon := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for _, c := range cfg.Clusters {
		resp, err := anon.Get(c.Server + "/api/v1/namespaces/default/pods?anonymous=1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Audit-Id") == "" {
			t.Fatalf("anonymous request: %s, Audit-Id %q", resp.Status, resp.Header.Get("Audit-Id"))
		}
	}
	var watchStages []auditv1.Stage
	var unauthenticated []auditv1.Event
	time.Sleep(200 * time.Millisecond) // the watch's last event is written once its handler returns
	for _, ev := range auditEvents(t, logPath) {
		if ev.Verb == "watch" && ev.ObjectRef != nil && ev.ObjectRef.Resource == "namespaces" {
			watchStages = append(watchStages, ev.Stage)
		}
		if strings.HasSuffix(ev.RequestURI, "anonymous=1") {
			unauthenticated = append(unauthenticated, ev)
		}
	}
	if !slices.Equal(watchStages, []auditv1.Stage{auditv1.StageResponseStarted, auditv1.StageResponseComplete}) {
		t.Errorf("watch stages %v, want ResponseStarted, ResponseComplete", watchStages)
	}
	if len(unauthenticated) != 1 || unauthenticated[0].User.Username != "" || unauthenticated[0].ResponseStatus.Code != 401 ||
		unauthenticated[0].Verb != "list" || unauthenticated[0].ResponseStatus.Message != "Authentication failed, no credentials provided" {
		t.Errorf("unauthenticated request's events: %+v", unauthenticated)
	}
}

// TestAuditPolicy checks a policy file: a level None rule leaves its
// resource out, RequestResponse logs bodies but never a secret's, and the
// log rotates by size.
func TestAuditPolicy(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources:
  - group: ""
    resources: ["configmaps"]
- level: RequestResponse
`), 0o600); err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(dir, "audit")
	logPath := filepath.Join(logDir, "audit.log")
	d := startDaemon(t, withArgs("--audit-log-path", logPath, "--audit-policy-file", policy,
		"--audit-log-maxsize", "1", "--audit-log-maxbackup", "2"))

	for _, version := range []string{"1.27", "1.33"} {
		t.Run("kubectl-"+version, func(t *testing.T) {
			ns := "audit-" + strings.ReplaceAll(version, ".", "-")
			d.mustKubectl(version, "", "create", "namespace", ns)
			d.mustKubectl(version, "", "-n", ns, "create", "secret", "generic", "s", "--from-literal=password=hunter2")
			d.mustKubectl(version, "", "-n", ns, "get", "secret", "s", "-o", "yaml")
			d.mustKubectl(version, "", "-n", ns, "create", "configmap", "c", "--from-literal=k=v")
			d.mustKubectl(version, "", "-n", ns, "get", "configmap", "c")
			evs := auditEvents(t, logPath)
			if got := findEvents(evs, "create", "configmaps", ns, "*"); len(got) != 0 {
				t.Errorf("configmaps are at level None, yet logged: %+v", got)
			}
			for _, verb := range []string{"create", "get"} {
				got := findEvents(evs, verb, "secrets", ns, "s")
				if len(got) != 1 || got[0].Level != auditv1.LevelMetadata || got[0].RequestObject != nil || got[0].ResponseObject != nil {
					t.Errorf("%s secret: want one event at Metadata without bodies, got %+v", verb, got)
				}
			}
			got := findEvents(evs, "create", "namespaces", "", ns)
			if len(got) != 1 || got[0].Level != auditv1.LevelRequestResponse || got[0].RequestObject == nil || got[0].ResponseObject == nil ||
				!strings.Contains(string(got[0].ResponseObject.Raw), `"uid"`) {
				t.Errorf("create namespace at RequestResponse: %+v", got)
			}
		})
	}
	noSecretIn(t, logDir, "hunter2")

	// Rotation: each list of namespaces logs its response; keep asking
	// until the log has rotated more than --audit-log-maxbackup times.
	backups := func() []string {
		files, _ := filepath.Glob(filepath.Join(logDir, "audit-*.log"))
		return files
	}
	start := time.Now()
	var rotations int
	for last := ""; rotations < 4; {
		if time.Since(start) > 2*time.Minute {
			t.Fatalf("only %d rotations after 2 minutes", rotations)
		}
		for range 50 {
			if _, err := d.client.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if b := backups(); len(b) > 0 && b[len(b)-1] != last {
			last = b[len(b)-1]
			rotations++
		}
	}
	b := backups()
	if len(b) != 2 {
		t.Errorf("backups %v, want --audit-log-maxbackup=2 of them", b)
	}
	name := regexp.MustCompile(`^audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log$`)
	for _, f := range append(b, logPath) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 1<<20 {
			t.Errorf("%s: %d bytes, over --audit-log-maxsize=1", f, st.Size())
		}
		if f != logPath && (!name.MatchString(filepath.Base(f)) || st.Size() < 900<<10) {
			t.Errorf("backup %s (%d bytes): want lumberjack's name and a nearly full file", f, st.Size())
		}
	}
	auditEvents(t, logPath) // every line of every file is whole
	noSecretIn(t, logDir, "hunter2")
}

// TestAuditAuthorization: the audit event of a request names who sent it
// and whom it impersonated, the authorizer's decision and reason, and
// PodSecurity's audit-mode violations.
func TestAuditAuthorization(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "audit.log")
	d := startDaemon(t, withArgs("--audit-log-path", logPath))
	d.mustKubectl("1.33", "", "create", "namespace", "watched")
	d.mustKubectl("1.33", "", "label", "namespace", "watched", "pod-security.kubernetes.io/audit=restricted")
	d.mustKubectl("1.33", "", "create", "rolebinding", "bob-view", "--clusterrole=view", "--user=bob", "-n", "watched")
	d.mustKubectl("1.27", "", "--as=bob", "get", "pods", "-n", "watched")
	if _, _, err := d.kubectl("1.27", "", "--as=bob", "get", "pods", "-n", "default"); err == nil {
		t.Fatal("bob listed pods in default")
	}
	d.mustKubectl("1.33", "", "run", "loose", "-n", "watched", "--image=busybox", "--image-pull-policy=IfNotPresent", "--", "sleep", "1")

	evs := auditEvents(t, logPath)
	allowed := findEvents(evs, "list", "pods", "watched", "")
	if len(allowed) != 1 || allowed[0].User.Username != "kubernetes-admin" || allowed[0].ImpersonatedUser == nil ||
		allowed[0].ImpersonatedUser.Username != "bob" || allowed[0].Annotations["authorization.k8s.io/decision"] != "allow" ||
		allowed[0].Annotations["authorization.k8s.io/reason"] != `RBAC: allowed by RoleBinding "bob-view/watched" of ClusterRole "view" to User "bob"` {
		t.Errorf("bob's allowed list: %+v", allowed)
	}
	denied := findEvents(evs, "list", "pods", "default", "")
	if len(denied) != 1 || denied[0].ResponseStatus == nil || denied[0].ResponseStatus.Code != 403 ||
		denied[0].Annotations["authorization.k8s.io/decision"] != "forbid" || denied[0].ImpersonatedUser == nil {
		t.Errorf("bob's refused list: %+v", denied)
	}
	created := findEvents(evs, "create", "pods", "watched", "loose")
	if len(created) != 1 || !strings.Contains(created[0].Annotations["pod-security.kubernetes.io/audit-violations"], `would violate PodSecurity "restricted:latest"`) {
		t.Errorf("the pod's PodSecurity audit annotation: %+v", created)
	}
}
