package apiserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/peapod/peapod/internal/printers"
	"github.com/peapod/peapod/internal/registry"
	"github.com/peapod/peapod/internal/registry/event"
	"github.com/peapod/peapod/internal/registry/namespace"
	"github.com/peapod/peapod/internal/registry/node"
	"github.com/peapod/peapod/internal/registry/pod"
	"github.com/peapod/peapod/internal/registry/runtimeclass"
	"github.com/peapod/peapod/internal/scheme"
	"github.com/peapod/peapod/internal/storage"
)

type testServer struct {
	url    string
	client kubernetes.Interface
	store  *storage.Store
}

// newTestServer serves a fresh registry over HTTP (no TLS, no client
// certificates) and returns a client-go clientset for it.
func newTestServer(t testing.TB, history int) *testServer {
	t.Helper()
	srv, st := newTestAPI(t, history)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: hs.URL, QPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return &testServer{url: hs.URL, client: client, store: st}
}

// newTestAPI builds a Server over a fresh registry.
func newTestAPI(t testing.TB, history int) (*Server, *storage.Store) {
	t.Helper()
	sc := scheme.New()
	st, err := storage.Open(filepath.Join(t.TempDir(), "db"), sc, storage.Options{NoSync: true, HistorySize: history})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now
	namespaces := registry.NewStore(namespace.Resource(), st, now)
	stores := []*registry.Store{
		registry.NewStore(pod.Resource(&pod.Strategy{NodeName: "node1", Now: now}), st, now),
		namespaces,
		registry.NewStore(node.Resource(), st, now),
		registry.NewStore(event.Resource(), st, now),
		registry.NewStore(runtimeclass.Resource(), st, now),
	}
	for _, n := range namespace.System() {
		if _, err := namespaces.Create(context.Background(), "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, false); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(Config{
		Scheme: sc, Stores: stores, Printer: printers.New(sc.SetKind),
		Version: version.Info{Major: "1", Minor: "37", GitVersion: "v1.37.0-test"},
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)), Now: now, ServerAddress: "127.0.0.1:6443",
	})
	return srv, st
}

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36"}}},
	}
}

func TestPodCreateDefaultsAndBinds(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	p, err := ts.client.CoreV1().Pods("default").Create(ctx, testPod("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.UID == "" || p.CreationTimestamp.IsZero() || p.ResourceVersion == "" || p.Generation != 1 {
		t.Errorf("system fields not set: %+v", p.ObjectMeta)
	}
	if p.Spec.NodeName != "node1" || p.Spec.RestartPolicy != corev1.RestartPolicyAlways || *p.Spec.TerminationGracePeriodSeconds != 30 ||
		p.Spec.Containers[0].ImagePullPolicy != corev1.PullIfNotPresent || p.Spec.Containers[0].TerminationMessagePath != "/dev/termination-log" {
		t.Errorf("defaults/binding missing: %+v", p.Spec)
	}
	if p.Status.Phase != corev1.PodPending || p.Status.QOSClass != corev1.PodQOSBestEffort ||
		len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Type != corev1.PodScheduled {
		t.Errorf("status = %+v", p.Status)
	}
	gen := testPod("")
	gen.GenerateName = "web-"
	g, err := ts.client.CoreV1().Pods("default").Create(ctx, gen, metav1.CreateOptions{})
	if err != nil || !strings.HasPrefix(g.Name, "web-") || len(g.Name) != len("web-")+5 {
		t.Errorf("generateName: %v %v", g.Name, err)
	}
}

func TestErrors(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, testPod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bad := testPod("Bad_Name")
	noImage := testPod("noimage")
	noImage.Spec.Containers[0].Image = ""
	for _, tc := range []struct {
		desc string
		err  error
		code int32
		msg  string
	}{
		{"already exists", second(pods.Create(ctx, testPod("web"), metav1.CreateOptions{})), 409, `pods "web" already exists`},
		{"not found", second(pods.Get(ctx, "nope", metav1.GetOptions{})), 404, `pods "nope" not found`},
		{"invalid name", second(pods.Create(ctx, bad, metav1.CreateOptions{})), 422, `Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"`},
		{"missing image", second(pods.Create(ctx, noImage, metav1.CreateOptions{})), 422, `Pod "noimage" is invalid: spec.containers[0].image: Required value`},
		{"missing namespace", second(ts.client.CoreV1().Pods("nope").Create(ctx, testPod("x"), metav1.CreateOptions{})), 404, `namespaces "nope" not found`},
		{"unsupported field selector", second(pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.foo=bar"})), 400, "field label not supported: spec.foo"},
		{"immortal namespace", ts.client.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{}), 403, `namespaces "default" is forbidden: this namespace may not be deleted`},
		{"stale resourceVersion", func() error {
			p, _ := pods.Get(ctx, "web", metav1.GetOptions{})
			p.ResourceVersion = "1"
			return second(pods.Update(ctx, p, metav1.UpdateOptions{}))
		}(), 409, `Operation cannot be fulfilled on pods "web": the object has been modified; please apply your changes to the latest version and try again`},
		{"forbidden spec update", func() error {
			p, _ := pods.Get(ctx, "web", metav1.GetOptions{})
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
			return second(pods.Update(ctx, p, metav1.UpdateOptions{}))
		}(), 422, "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			var se *apierrors.StatusError
			if !asStatus(tc.err, &se) {
				t.Fatalf("error %v is not a Status", tc.err)
			}
			if se.ErrStatus.Code != tc.code || !strings.Contains(se.ErrStatus.Message, tc.msg) {
				t.Errorf("got %d %q, want %d containing %q", se.ErrStatus.Code, se.ErrStatus.Message, tc.code, tc.msg)
			}
		})
	}
}

func second[T any](_ T, err error) error { return err }

func asStatus(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}

func TestPatchTypesAndSubresources(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, testPod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pt    types.PatchType
		patch string
		label string
	}{
		{types.StrategicMergePatchType, `{"metadata":{"labels":{"tier":"smp"}}}`, "smp"},
		{types.MergePatchType, `{"metadata":{"labels":{"tier":"merge"}}}`, "merge"},
		{types.JSONPatchType, `[{"op":"replace","path":"/metadata/labels/tier","value":"json"}]`, "json"},
	} {
		p, err := pods.Patch(ctx, "web", tc.pt, []byte(tc.patch), metav1.PatchOptions{})
		if err != nil || p.Labels["tier"] != tc.label || p.Labels["app"] != "web" {
			t.Errorf("%s: labels %v, err %v", tc.pt, p.Labels, err)
		}
	}
	// The main resource ignores status; the status subresource ignores spec.
	p, _ := pods.Get(ctx, "web", metav1.GetOptions{})
	p.Status.Phase = corev1.PodRunning
	p, err := pods.Update(ctx, p, metav1.UpdateOptions{})
	if err != nil || p.Status.Phase != corev1.PodPending {
		t.Errorf("main update changed status to %s (%v)", p.Status.Phase, err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Spec.Containers[0].Image = "busybox:other"
	p, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if err != nil || p.Status.Phase != corev1.PodRunning || p.Spec.Containers[0].Image != "busybox:1.36" {
		t.Errorf("status update: phase %s image %s err %v", p.Status.Phase, p.Spec.Containers[0].Image, err)
	}
	// Field selectors see the new phase.
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running,spec.nodeName=node1", LabelSelector: "tier in (json)"})
	if err != nil || len(list.Items) != 1 {
		t.Errorf("selectors: %v %v", list, err)
	}
}

func TestGracefulDelete(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	if _, err := pods.Create(ctx, testPod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err := pods.Get(ctx, "web", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil || *p.DeletionGracePeriodSeconds != 30 || p.Generation != 2 {
		t.Fatalf("graceful delete did not mark the pod: %+v %v", p.ObjectMeta, err)
	}
	ten := int64(10)
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &ten}); err != nil {
		t.Fatal(err)
	}
	shorter, _ := pods.Get(ctx, "web", metav1.GetOptions{})
	if *shorter.DeletionGracePeriodSeconds != 10 || !shorter.DeletionTimestamp.Time.Equal(p.DeletionTimestamp.Add(-20*time.Second)) {
		t.Errorf("shortening the grace period: %v %v", shorter.DeletionTimestamp, *shorter.DeletionGracePeriodSeconds)
	}
	wrongUID := types.UID("other")
	zero := int64(0)
	err = pods.Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &wrongUID}})
	if !apierrors.IsConflict(err) {
		t.Errorf("UID precondition: %v", err)
	}
	if err := pods.Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod still there: %v", err)
	}
	// An unbound pod (scheduling gates keep it off the node) goes at once.
	gated := testPod("gated")
	gated.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "wait"}}
	if _, err := pods.Create(ctx, gated, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "gated", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Get(ctx, "gated", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("unbound pod kept: %v", err)
	}
}

func TestWatch(t *testing.T) {
	ts := newTestServer(t, 3)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	first, err := pods.Create(ctx, testPod("a"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := pods.Patch(ctx, "a", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.ResultChan():
		if e.Type != watch.Modified || e.Object.(*corev1.Pod).Labels["x"] != "y" {
			t.Errorf("event %s %+v", e.Type, e.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no watch event")
	}
	for _, n := range []string{"b", "c", "d", "e"} {
		if _, err := pods.Create(ctx, testPod(n), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The history holds 3 events: a watch from the first revision is gone.
	old, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Stop()
	select {
	case e := <-old.ResultChan():
		st, ok := e.Object.(*metav1.Status)
		if e.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired ||
			!strings.HasPrefix(st.Message, "too old resource version: "+first.ResourceVersion+" (") {
			t.Errorf("too-old watch: %s %+v", e.Type, e.Object)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no ERROR event for a too-old resourceVersion")
	}
}

func TestTableAndDiscovery(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	if _, err := ts.client.CoreV1().Pods("default").Create(ctx, testPod("web"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", ts.url+"/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if strings.Join(cols, ",") != "Name,Ready,Status,Restarts,Age,IP,Node,Nominated Node,Readiness Gates" || table.ResourceVersion == "" {
		t.Errorf("columns %v rv %q", cols, table.ResourceVersion)
	}
	if len(table.Rows) != 1 || table.Rows[0].Cells[0] != "web" || table.Rows[0].Cells[1] != "0/1" || table.Rows[0].Cells[2] != "Pending" {
		t.Errorf("rows %+v", table.Rows)
	}
	var obj metav1.PartialObjectMetadata
	if err := json.Unmarshal(table.Rows[0].Object.Raw, &obj); err != nil || obj.Kind != "PartialObjectMetadata" || obj.Labels["app"] != "web" {
		t.Errorf("row object %s: %v", table.Rows[0].Object.Raw, err)
	}
	res, err := ts.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res.APIResources {
		if r.Name == "pods" && strings.Join(r.ShortNames, ",") == "po" && strings.Join(r.Categories, ",") == "all" && r.Namespaced {
			found = true
		}
	}
	if !found {
		t.Errorf("pods missing from discovery: %+v", res.APIResources)
	}
	for path, want := range map[string]string{"/openapi/v3": `"api/v1"`, "/version": `"gitVersion":"v1.37.0-test"`, "/healthz": "ok"} {
		resp, err := http.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestFieldValidation(t *testing.T) {
	ts := newTestServer(t, 100)
	body := `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"busybox","bogus":1}]}}`
	for _, tc := range []struct {
		directive string
		code      int
		warning   string
		message   string
	}{
		{"Strict", 400, "", `Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].bogus\"`},
		{"Warn", 201, `299 - "unknown field \"spec.containers[0].bogus\""`, ""},
	} {
		resp, err := http.Post(ts.url+"/api/v1/namespaces/default/pods?fieldValidation="+tc.directive, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Warning") != tc.warning || !strings.Contains(string(out), tc.message) {
			t.Errorf("%s: %d warning %q body %s", tc.directive, resp.StatusCode, resp.Header.Get("Warning"), out)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	srv := New(Config{Scheme: scheme.New(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now, RequireClientCert: true})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.Get(hs.URL + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.Contains(string(body), `"reason":"Unauthorized"`) {
		t.Errorf("anonymous request: %d %s", resp.StatusCode, body)
	}
}

func TestNamespaceDeleteAndFinalize(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	nss := ts.client.CoreV1().Namespaces()
	ns, err := nss.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Labels[corev1.LabelMetadataName] != "team" {
		t.Fatalf("new namespace %+v", ns)
	}
	bad := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "Bad"}}
	if _, err := nss.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) ||
		!strings.Contains(err.Error(), `metadata.name: Invalid value: "Bad": a lowercase RFC 1123 label must consist of`) {
		t.Errorf("invalid namespace name: %v", err)
	}
	if err := nss.Delete(ctx, "team", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ns, err = nss.Get(ctx, "team", metav1.GetOptions{})
	if err != nil || ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
		t.Fatalf("after delete: %+v %v", ns, err)
	}
	if _, err := ts.client.CoreV1().Pods("team").Create(ctx, testPod("x"), metav1.CreateOptions{}); !apierrors.IsForbidden(err) ||
		!strings.Contains(err.Error(), "unable to create new content in namespace team because it is being terminated") {
		t.Errorf("create in terminating namespace: %v", err)
	}
	ns.Spec.Finalizers = nil
	if _, err := nss.Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "team", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("finalized namespace still there: %v", err)
	}
}

func TestOpenAPISchemas(t *testing.T) {
	ts := newTestServer(t, 100)
	resp, err := http.Get(ts.url + "/openapi/v3/api/v1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Description string                    `json:"description"`
				Properties  map[string]map[string]any `json:"properties"`
				Required    []string                  `json:"required"`
				GVK         []map[string]string       `json:"x-kubernetes-group-version-kind"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	pod := doc.Components.Schemas["io.k8s.api.core.v1.Pod"]
	if len(pod.GVK) != 1 || pod.GVK[0]["kind"] != "Pod" || !strings.Contains(pod.Description, "Pod is a collection of containers") {
		t.Errorf("Pod schema: %+v", pod.GVK)
	}
	if _, ok := pod.Properties["metadata"]; !ok {
		t.Errorf("Pod schema lacks metadata: %v", pod.Properties)
	}
	ctr := doc.Components.Schemas["io.k8s.api.core.v1.Container"]
	if !strings.Contains(strings.Join(ctr.Required, ","), "name") || ctr.Properties["ports"]["x-kubernetes-patch-merge-key"] != "containerPort" {
		t.Errorf("Container schema: required %v ports %v", ctr.Required, ctr.Properties["ports"])
	}
	// kubectl decides from the PATCH operation that the server validates fields.
	params, _ := doc.Paths["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]["parameters"].([]any)
	found := false
	for _, p := range params {
		if m, ok := p.(map[string]any); ok && m["name"] == "fieldValidation" && m["in"] == "query" {
			found = true
		}
	}
	if !found {
		t.Errorf("PATCH pods lacks the fieldValidation query parameter: %v", params)
	}
}

// TestAPIGroups: a resource of a group other than core (node.k8s.io/v1
// RuntimeClass) is discovered, served under /apis/<group>/<version>/ with
// upstream's group-qualified errors, and has its own OpenAPI document.
func TestAPIGroups(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	groups, err := ts.client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		if g.Name == "node.k8s.io" && g.PreferredVersion.GroupVersion == "node.k8s.io/v1" {
			found = true
		}
	}
	if !found {
		t.Errorf("groups %+v lack node.k8s.io", groups.Groups)
	}
	list, err := ts.client.Discovery().ServerResourcesForGroupVersion("node.k8s.io/v1")
	if err != nil || len(list.APIResources) != 1 || list.APIResources[0].Name != "runtimeclasses" || list.APIResources[0].Namespaced {
		t.Errorf("node.k8s.io/v1 resources %+v, %v", list, err)
	}
	core, err := ts.client.Discovery().ServerResourcesForGroupVersion("v1")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range core.APIResources {
		if r.Name == "runtimeclasses" {
			t.Error("runtimeclasses listed in core/v1")
		}
	}
	rcs := ts.client.NodeV1().RuntimeClasses()
	if _, err := rcs.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := rcs.Get(ctx, "runc", metav1.GetOptions{})
	if err != nil || got.Handler != "runc" || got.APIVersion != "" && got.APIVersion != "node.k8s.io/v1" {
		t.Errorf("get: %+v, %v", got, err)
	}
	if _, err := rcs.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) || err.Error() != `runtimeclasses.node.k8s.io "nope" not found` {
		t.Errorf("a missing one: %v", err)
	}
	_, err = rcs.Create(ctx, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "bad"}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.HasPrefix(err.Error(), `RuntimeClass.node.k8s.io "bad" is invalid: handler: Invalid value: ""`) {
		t.Errorf("an invalid one: %v", err)
	}
	for path, want := range map[string]int{
		"/apis/node.k8s.io/v1/runtimeclasses/runc": http.StatusOK,
		"/apis/node.k8s.io/v1/pods":                http.StatusNotFound,
		"/apis/node.k8s.io/v2/runtimeclasses":      http.StatusNotFound,
		"/api/v1/runtimeclasses":                   http.StatusNotFound,
	} {
		resp, err := http.Get(ts.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, err := http.Get(ts.url + "/openapi/v3")
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Paths map[string]struct {
			URL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	err = json.NewDecoder(resp.Body).Decode(&root)
	resp.Body.Close()
	if err != nil || root.Paths["apis/node.k8s.io/v1"].URL == "" || root.Paths["api/v1"].URL == "" {
		t.Fatalf("openapi root %+v, %v", root, err)
	}
	resp, err = http.Get(ts.url + root.Paths["apis/node.k8s.io/v1"].URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				GVK []map[string]string `json:"x-kubernetes-group-version-kind"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if gvk := doc.Components.Schemas["io.k8s.api.node.v1.RuntimeClass"].GVK; len(gvk) != 1 || gvk[0]["group"] != "node.k8s.io" || gvk[0]["kind"] != "RuntimeClass" {
		t.Errorf("RuntimeClass schema GVK %v", gvk)
	}
}
