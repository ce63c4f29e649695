package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

type testUserKey struct{}

// syncBuffer is a bytes.Buffer the test reads while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// testServer is the audit filter around a fake authentication (the
// Authorization header "Bearer <user>" authenticates <user>, "Bearer bad"
// is refused) and handler.
func testServer(t *testing.T, policy string, handler http.HandlerFunc) (*httptest.Server, *syncBuffer) {
	t.Helper()
	p := DefaultPolicy()
	if policy != "" {
		var err error
		if p, err = ParsePolicy([]byte(policy)); err != nil {
			t.Fatal(err)
		}
	}
	var buf syncBuffer
	l := &Logger{policy: p, log: slog.New(slog.DiscardHandler), w: &buf,
		now: func() time.Time { return time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC) }}
	authn := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if name == "bad" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			u := &authnv1.UserInfo{Username: name, UID: "u1", Groups: []string{"system:masters", "system:authenticated"},
				Extra: map[string]authnv1.ExtraValue{"k": {"v"}}}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), testUserKey{}, u)))
		})
	}
	describe := func(r *http.Request) (Attributes, *authnv1.UserInfo) {
		a := Attributes{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
		a.User, _ = r.Context().Value(testUserKey{}).(*authnv1.UserInfo)
		// /r/<resource>[/<name>[/<subresource>]] in namespace ns.
		if rest, ok := strings.CutPrefix(r.URL.Path, "/r/"); ok {
			parts := append(strings.Split(rest, "/"), "", "")
			a.Resource = &auditv1.ObjectReference{Resource: parts[0], Name: parts[1], Subresource: parts[2], Namespace: "ns", APIVersion: "v1"}
			switch {
			case r.URL.Query().Get("watch") == "1":
				a.Verb = "watch"
			case r.Method == http.MethodPost:
				a.Verb = "create"
			case r.Method == http.MethodGet && parts[1] == "":
				a.Verb = "list"
			case r.Method == http.MethodGet:
				a.Verb = "get"
			}
		}
		return a, nil
	}
	srv := httptest.NewServer(l.WithAuditInit(authn(l.WithAudit(handler)), describe))
	t.Cleanup(srv.Close)
	return srv, &buf
}

func do(t *testing.T, srv *httptest.Server, method, path, user, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+user)
	req.Header.Set("User-Agent", "kubectl/v1.33.0 test")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func events(t *testing.T, buf *syncBuffer) []auditv1.Event {
	t.Helper()
	var out []auditv1.Event
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev auditv1.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, ev)
	}
	buf.Reset()
	return out
}

func TestEventFields(t *testing.T) {
	srv, buf := testServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		LogAuthorizationDecision(r.Context(), DecisionAllow, "because")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"Pod"}`)
	})
	resp := do(t, srv, "GET", "/r/pods/p1?x=1", "kubernetes-admin", "")
	evs := events(t, buf)
	if len(evs) != 1 {
		t.Fatalf("got %d events, want 1 (default policy: ResponseComplete only)", len(evs))
	}
	ev := evs[0]
	if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" || ev.Level != auditv1.LevelMetadata || ev.Stage != auditv1.StageResponseComplete {
		t.Errorf("kind/apiVersion/level/stage: %s %s %s %s", ev.Kind, ev.APIVersion, ev.Level, ev.Stage)
	}
	if ev.AuditID == "" || resp.Header.Get("Audit-Id") != string(ev.AuditID) {
		t.Errorf("auditID %q, Audit-Id header %q", ev.AuditID, resp.Header.Get("Audit-Id"))
	}
	if ev.RequestURI != "/r/pods/p1?x=1" || ev.Verb != "get" || ev.UserAgent != "kubectl/v1.33.0 test" {
		t.Errorf("requestURI %q verb %q userAgent %q", ev.RequestURI, ev.Verb, ev.UserAgent)
	}
	if ev.User.Username != "kubernetes-admin" || ev.User.UID != "u1" || strings.Join(ev.User.Groups, ",") != "system:masters,system:authenticated" || ev.User.Extra["k"][0] != "v" {
		t.Errorf("user %+v", ev.User)
	}
	if len(ev.SourceIPs) != 1 || ev.SourceIPs[0] != "127.0.0.1" {
		t.Errorf("sourceIPs %v", ev.SourceIPs)
	}
	if ref := ev.ObjectRef; ref == nil || ref.Resource != "pods" || ref.Name != "p1" || ref.Namespace != "ns" || ref.APIVersion != "v1" {
		t.Errorf("objectRef %+v", ev.ObjectRef)
	}
	if ev.ResponseStatus == nil || ev.ResponseStatus.Code != 200 || ev.ResponseObject != nil || ev.RequestObject != nil {
		t.Errorf("responseStatus %+v, bodies %v %v at Metadata", ev.ResponseStatus, ev.RequestObject, ev.ResponseObject)
	}
	if ev.Annotations[DecisionAnnotation] != "allow" || ev.Annotations[ReasonAnnotation] != "because" {
		t.Errorf("annotations %v", ev.Annotations)
	}
	if ev.RequestReceivedTimestamp.IsZero() || ev.StageTimestamp.IsZero() {
		t.Errorf("timestamps %v %v", ev.RequestReceivedTimestamp, ev.StageTimestamp)
	}
	// A client's audit ID is kept.
	req, _ := http.NewRequest("GET", srv.URL+"/version", nil)
	req.Header.Set("Audit-ID", "mine")
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if evs := events(t, buf); r2.Header.Get("Audit-Id") != "mine" || len(evs) != 1 || evs[0].AuditID != "mine" || evs[0].ObjectRef != nil || evs[0].Verb != "get" {
		t.Errorf("client audit ID: header %q, events %+v", r2.Header.Get("Audit-Id"), evs)
	}
}

func TestEventFailures(t *testing.T) {
	srv, buf := testServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("logged") == "1" {
			// As the API server's response hook, with a body the filter
			// cannot read.
			LogResponseObject(r.Context(), &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure",
				Message: `pods "p" not found`, Reason: metav1.StatusReasonNotFound, Details: &metav1.StatusDetails{Name: "p", Kind: "pods"}, Code: 404})
			w.Header().Set("Content-Type", "application/vnd.kubernetes.protobuf")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, "k8s\x00...")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"p\" not found","reason":"NotFound","details":{"name":"p","kind":"pods"},"code":404}`)
	})
	for _, q := range []string{"", "?logged=1"} {
		do(t, srv, "GET", "/r/pods/p"+q, "kubernetes-admin", "")
		evs := events(t, buf)
		if len(evs) != 1 {
			t.Fatalf("got %d events", len(evs))
		}
		if st := evs[0].ResponseStatus; st == nil || st.Code != 404 || st.Status != "Failure" || st.Reason != "NotFound" || st.Message != `pods "p" not found` || st.Details == nil {
			t.Errorf("%s: responseStatus %+v", q, evs[0].ResponseStatus)
		}
	}

	// Authentication refused: one ResponseStarted event without a user,
	// as kube-apiserver's failed-authentication audit.
	do(t, srv, "GET", "/r/pods", "bad", "")
	evs := events(t, buf)
	if len(evs) != 1 {
		t.Fatalf("401: got %d events", len(evs))
	}
	ev := evs[0]
	if ev.Stage != auditv1.StageResponseStarted || ev.User.Username != "" || ev.ResponseStatus.Code != 401 ||
		ev.ResponseStatus.Message != "Authentication failed, attempted: bearer" || ev.Verb != "list" || ev.ObjectRef == nil {
		t.Errorf("401 event %+v", ev)
	}
}

func TestEventLevels(t *testing.T) {
	policy := `
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  resources: [{group: "", resources: ["events"]}]
- level: Request
  resources: [{group: "", resources: ["configmaps"]}]
- level: RequestResponse
  omitManagedFields: true
`
	srv, buf := testServer(t, policy, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// As the API server's decoding hook.
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(body); err != nil {
			t.Error(err)
		}
		LogRequestObject(r.Context(), obj, obj.GroupVersionKind())
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(body) // echo, as a create returns the object
	})
	obj := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","managedFields":[{"manager":"kubectl"}]},"data":{"password":"` + base64.StdEncoding.EncodeToString([]byte("hunter2")) + `"},"stringData":{"p":"hunter2"}}`
	for _, tc := range []struct {
		desc, path                     string
		wantLevel                      auditv1.Level
		wantRequest, wantResponse, any bool
	}{
		{"None", "/r/events", "", false, false, false},
		{"Request", "/r/configmaps", auditv1.LevelRequest, true, false, true},
		{"RequestResponse", "/r/pods", auditv1.LevelRequestResponse, true, true, true},
		{"secrets forced to Metadata", "/r/secrets", auditv1.LevelMetadata, false, false, true},
		{"TokenRequests forced to Metadata", "/r/serviceaccounts/default/token", auditv1.LevelMetadata, false, false, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			do(t, srv, "POST", tc.path, "kubernetes-admin", obj)
			raw := buf.String()
			evs := events(t, buf)
			if !tc.any {
				if len(evs) != 0 {
					t.Fatalf("level None wrote %d events", len(evs))
				}
				return
			}
			// RequestReceived and ResponseComplete: this policy omits no stage.
			if len(evs) != 2 || evs[0].Stage != auditv1.StageRequestReceived || evs[1].Stage != auditv1.StageResponseComplete {
				t.Fatalf("events %+v", evs)
			}
			ev := evs[1]
			if ev.Level != tc.wantLevel || (ev.RequestObject != nil) != tc.wantRequest || (ev.ResponseObject != nil) != tc.wantResponse {
				t.Errorf("level %s, requestObject %v, responseObject %v", ev.Level, ev.RequestObject != nil, ev.ResponseObject != nil)
			}
			if tc.wantRequest && strings.Contains(string(ev.RequestObject.Raw), "managedFields") == (tc.wantLevel == auditv1.LevelRequestResponse) {
				t.Errorf("managedFields: %s", ev.RequestObject.Raw)
			}
			if ev.ObjectRef.Name == "" {
				t.Errorf("objectRef.name of a create is the object's: %+v", ev.ObjectRef)
			}
			if !tc.wantRequest && (strings.Contains(raw, "hunter2") || strings.Contains(raw, base64.StdEncoding.EncodeToString([]byte("hunter2")))) {
				t.Errorf("secret data in the log: %s", raw)
			}
		})
	}
}

func TestEventLongRunning(t *testing.T) {
	release := make(chan struct{})
	srv, buf := testServer(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-release
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", srv.URL+"/r/pods?watch=1", nil)
		req.Header.Set("Authorization", "Bearer kubernetes-admin")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(buf.String(), "ResponseStarted") {
		if time.Now().After(deadline) {
			t.Fatal("no ResponseStarted event while the watch runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	<-done
	evs := events(t, buf)
	if len(evs) != 2 || evs[0].Stage != auditv1.StageResponseStarted || evs[1].Stage != auditv1.StageResponseComplete || evs[1].Verb != "watch" {
		t.Errorf("watch events %+v", evs)
	}
}

func TestEventPanic(t *testing.T) {
	srv, buf := testServer(t, "", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	req, _ := http.NewRequest("GET", srv.URL+"/r/pods", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	evs := events(t, buf)
	if len(evs) != 1 || evs[0].Stage != auditv1.StagePanic || evs[0].ResponseStatus.Code != 500 || !strings.Contains(evs[0].ResponseStatus.Message, "boom") {
		t.Errorf("panic events %+v", evs)
	}
}

// BenchmarkFilter measures what auditing adds to a request at Metadata
// (the default policy), and with auditing off (the Audit-ID header only).
func BenchmarkFilter(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"kind":"Pod"}`)
	})
	describe := func(r *http.Request) (Attributes, *authnv1.UserInfo) {
		return Attributes{Verb: "get", Path: r.URL.Path, User: &authnv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters"}},
			Resource: &auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: "p", APIVersion: "v1"}}, nil
	}
	on := &Logger{policy: DefaultPolicy(), log: slog.New(slog.DiscardHandler), w: io.Discard, now: time.Now}
	for _, tc := range []struct {
		name string
		l    *Logger
	}{{"off", nil}, {"metadata", on}} {
		b.Run(tc.name, func(b *testing.B) {
			h := tc.l.WithAuditInit(tc.l.WithAudit(ok), describe)
			r := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods/p", nil)
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
		})
	}
}
