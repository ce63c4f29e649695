package apiserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// rawRequest sends a request and decodes a Status answer.
func rawRequest(t *testing.T, method, url, contentType, body string) (int, metav1.Status, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	_ = json.Unmarshal(data, &st)
	return resp.StatusCode, st, data
}

func TestListParameterErrors(t *testing.T) {
	ts := newTestServer(t, 100)
	token := encodeTestToken(t, 5, "default/a\x00")
	for _, tc := range []struct {
		query string
		code  int
		msg   string
	}{
		{"resourceVersion=abc", 400, `invalid resource version: resourceVersion: Invalid value: "abc": strconv.ParseUint: parsing "abc": invalid syntax`},
		{"watch=1&resourceVersion=abc", 400, `invalid resource version: resourceVersion: Invalid value: "abc"`},
		{"limit=abc", 400, `strconv.ParseInt: parsing "abc": invalid syntax`},
		{"watch=1&timeoutSeconds=x", 400, `strconv.ParseInt: parsing "x": invalid syntax`},
		{"labelSelector=a+b+c", 400, "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"},
		{"fieldSelector=spec.nodeName%3D%3D%3Dx", 400, "invalid field selector"},
		{"fieldSelector=spec.unknown%3Dx", 400, "field label not supported: spec.unknown"},
		{"resourceVersionMatch=Exact", 422, `ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided`},
		{"resourceVersion=1&resourceVersionMatch=Sometimes", 422, `resourceVersionMatch: Unsupported value: "Sometimes": supported values: "Exact", "NotOlderThan", ""`},
		{"sendInitialEvents=true", 422, "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"},
		{"watch=1&sendInitialEvents=true", 422, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"},
		{"continue=%25%25%25", 400, "invalid continue token: continue key is not valid: illegal base64 data"},
		{"continue=" + token + "&resourceVersion=5", 400, "specifying resource version is not allowed when using continue"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			code, st, body := rawRequest(t, http.MethodGet, ts.url+"/api/v1/namespaces/default/pods?"+tc.query, "", "")
			if code != tc.code || !strings.Contains(st.Message, tc.msg) {
				t.Errorf("got %d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
}

func encodeTestToken(t *testing.T, rv int64, start string) string {
	t.Helper()
	data, err := json.Marshal(map[string]any{"v": "meta.k8s.io/v1", "rv": rv, "start": start})
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// TestWatchTimeouts: a negative timeoutSeconds ends the watch at once, as
// upstream's handler does; a positive one after that long.
func TestWatchTimeouts(t *testing.T) {
	ts := newTestServer(t, 100)
	for _, timeout := range []string{"-1", "1"} {
		start := time.Now()
		resp, err := http.Get(ts.url + "/api/v1/pods?watch=1&timeoutSeconds=" + timeout)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, resp.Body); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("watch with timeoutSeconds=%s still open after 30s", timeout)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("timeoutSeconds=%s: status %d", timeout, resp.StatusCode)
		}
		t.Logf("timeoutSeconds=%s ended after %s", timeout, time.Since(start))
	}
}

// TestPagination lists in pages that all show the first page's state,
// however the pods change in between, and reports what remains.
func TestPagination(t *testing.T) {
	ts := newTestServer(t, 1000)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	for i := 0; i < 7; i++ {
		if _, err := pods.Create(ctx, testPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := pods.List(ctx, metav1.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Items) != 3 || first.Continue == "" || first.RemainingItemCount == nil || *first.RemainingItemCount != 4 {
		t.Fatalf("first page: %d items, continue %q, remaining %v", len(first.Items), first.Continue, first.RemainingItemCount)
	}
	// Changes after the first page do not show on the next ones.
	if _, err := pods.Create(ctx, testPod("p9"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := pods.Delete(ctx, "p5", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, p := range first.Items {
		got = append(got, p.Name)
	}
	cont := first.Continue
	for cont != "" {
		page, err := pods.List(ctx, metav1.ListOptions{Limit: 3, Continue: cont})
		if err != nil {
			t.Fatal(err)
		}
		if page.ResourceVersion != first.ResourceVersion {
			t.Errorf("page at resourceVersion %s, first at %s", page.ResourceVersion, first.ResourceVersion)
		}
		for _, p := range page.Items {
			got = append(got, p.Name)
		}
		cont = page.Continue
	}
	if want := "p0 p1 p2 p3 p4 p5 p6"; strings.Join(got, " ") != want {
		t.Errorf("pages gave %v, want %s", got, want)
	}
	// With a selector, pages hold only matches and no count.
	sel, err := pods.List(ctx, metav1.ListOptions{Limit: 2, LabelSelector: "app=web"})
	if err != nil || len(sel.Items) != 2 || sel.RemainingItemCount != nil {
		t.Errorf("selector page: %v %+v", err, sel.ListMeta)
	}
}

// TestPaginationTooOld: once the history no longer reaches the first page's
// revision, the next page is 410 with a token that continues at the latest
// state.
func TestPaginationTooOld(t *testing.T) {
	ts := newTestServer(t, 4)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	for i := 0; i < 4; i++ {
		if _, err := pods.Create(ctx, testPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := pods.List(ctx, metav1.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if _, err := pods.Patch(ctx, "p0", types.MergePatchType, []byte(fmt.Sprintf(`{"metadata":{"labels":{"n":"%d"}}}`, i)), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = pods.List(ctx, metav1.ListOptions{Limit: 2, Continue: first.Continue})
	var status apierrors.APIStatus
	if !apierrors.IsResourceExpired(err) || !errorsAs(err, &status) || status.Status().ListMeta.Continue == "" ||
		!strings.Contains(err.Error(), "The provided continue parameter is too old to display a consistent list result.") {
		t.Fatalf("expected 410 with a new token, got %v", err)
	}
	rest, err := pods.List(ctx, metav1.ListOptions{Limit: 2, Continue: status.Status().ListMeta.Continue})
	if err != nil || len(rest.Items) != 2 || rest.Items[0].Name != "p2" {
		t.Errorf("continuing with the inconsistent token: %v %v", err, rest)
	}
}

func errorsAs(err error, target *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*target = s
	}
	return ok
}

// TestJSONPatchLimits: more than 10,000 operations is 413; copies that
// would grow the object past 3 MiB are 422, without the memory.
func TestJSONPatchLimits(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	big := testPod("big")
	big.Annotations = map[string]string{"blob": strings.Repeat("x", 100<<10)}
	if _, err := ts.client.CoreV1().Pods("default").Create(ctx, big, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	url := ts.url + "/api/v1/namespaces/default/pods/big"
	ops := make([]string, 10001)
	for i := range ops {
		ops[i] = `{"op":"test","path":"/metadata/name","value":"big"}`
	}
	code, st, body := rawRequest(t, http.MethodPatch, url, "application/json-patch+json", "["+strings.Join(ops, ",")+"]")
	if code != http.StatusRequestEntityTooLarge || st.Message != "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001" {
		t.Errorf("10001 operations: %d %s", code, body)
	}
	code, _, body = rawRequest(t, http.MethodPatch, url, "application/json-patch+json", amplifyingPatch(1000))
	if code != http.StatusUnprocessableEntity || !bytes.Contains(body, []byte("the server rejected our request due to an error in our request")) {
		t.Errorf("amplifying patch: %d %s", code, body)
	}
	code, _, body = rawRequest(t, http.MethodPatch, url, "application/merge-patch+json", "{not json")
	if code != http.StatusBadRequest || !bytes.Contains(body, []byte("invalid JSON patch")) {
		t.Errorf("malformed merge patch: %d %s", code, body)
	}
	cur, err := ts.client.CoreV1().Pods("default").Get(ctx, "big", metav1.GetOptions{})
	if err != nil || len(cur.Annotations) != 1 {
		t.Errorf("a refused patch changed the pod: %v %d annotations", err, len(cur.Annotations))
	}
}

// amplifyingPatch copies a 100 KB annotation n times.
func amplifyingPatch(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"/metadata/annotations/blob","path":"/metadata/annotations/c%d"}`, i)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// TestStatusValidation checks status writes as ValidatePodStatusUpdate does.
func TestStatusValidation(t *testing.T) {
	ts := newTestServer(t, 100)
	ctx := context.Background()
	pods := ts.client.CoreV1().Pods("default")
	never := testPod("never")
	never.Spec.RestartPolicy = corev1.RestartPolicyNever
	p, err := pods.Create(ctx, never, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	terminated := []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}}}
	running := []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
	for _, tc := range []struct {
		desc   string
		mutate func(*corev1.PodStatus)
		msg    string // "" for accepted
	}{
		{"unknown phase (not validated upstream either)", func(s *corev1.PodStatus) { s.Phase = "Exploded" }, ""},
		{"bad pod IP", func(s *corev1.PodStatus) { s.PodIP = "not-an-ip" },
			`Pod "never" is invalid: status.podIPs[0]: Invalid value: "not-an-ip": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)`},
		{"two IPv4 pod IPs", func(s *corev1.PodStatus) {
			s.PodIP = "10.0.0.1"
			s.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}
		},
			"may specify no more than one IP for each IP family"},
		{"hostIPs not matching hostIP", func(s *corev1.PodStatus) { s.HostIP = "10.0.0.1"; s.HostIPs = []corev1.HostIP{{IP: "10.0.0.2"}} },
			"status.hostIPs[0].ip: Invalid value: \"10.0.0.2\": must be equal to `hostIP`"},
		{"qosClass change", func(s *corev1.PodStatus) { s.QOSClass = corev1.PodQOSGuaranteed }, "status.qosClass: Invalid value: \"Guaranteed\": field is immutable"},
		{"bad condition type", func(s *corev1.PodStatus) {
			s.Conditions = append(s.Conditions, corev1.PodCondition{Type: "no spaces allowed", Status: corev1.ConditionTrue})
		}, "status.conditions[1].Type: Invalid value: \"no spaces allowed\""},
		{"negative observedGeneration", func(s *corev1.PodStatus) { s.ObservedGeneration = -1 }, "status.observedGeneration: Invalid value: -1: must be a non-negative integer"},
		{"terminated", func(s *corev1.PodStatus) { s.ContainerStatuses = terminated }, ""},
		{"terminated back to running under Never", func(s *corev1.PodStatus) { s.ContainerStatuses = running },
			"status.containerStatuses[0].state: Forbidden: may not be transitioned to non-terminated state"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cur, err := pods.Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(&cur.Status)
			_, err = pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			switch {
			case tc.msg == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.msg != "" && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.msg)):
				t.Errorf("got %v, want 422 with %q", err, tc.msg)
			}
		})
	}
}
