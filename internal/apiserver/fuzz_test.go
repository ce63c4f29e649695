package apiserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/scheme"
)

// The fuzz targets drive the HTTP handler in process with hostile input:
// request bodies in every content type, patches of every kind, list
// parameters and selectors, quantities in pod specs. None may panic or
// answer 5xx; bad input is the client's error. Their seed corpora run as
// ordinary tests; hack/test.sh also fuzzes each briefly.

var bodyTypes = []string{"application/json", "application/yaml", protobufType}

// fuzzHandler returns the handler of a fresh server holding pod "web".
func fuzzHandler(f *testing.F) http.Handler {
	srv, _ := newTestAPI(f, 1000)
	h := srv.Handler()
	serve(f, h, http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", mustJSON(f, testPod("web")))
	return h
}

func serve(t testing.TB, h http.Handler, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func mustJSON(t testing.TB, obj runtime.Object) []byte {
	t.Helper()
	data, err := scheme.New().Encode(obj)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func noServerError(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s", what, rec.Code, rec.Body.String())
	}
}

func FuzzCreatePod(f *testing.F) {
	h := fuzzHandler(f)
	pod := testPod("seed")
	f.Add(mustJSON(f, pod), uint8(0))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\nspec:\n  containers:\n  - name: a\n    image: b\n"), uint8(1))
	sc := scheme.New()
	if info, ok := runtime.SerializerInfoForMediaType(sc.Codecs.SupportedMediaTypes(), protobufType); ok {
		pod.Kind, pod.APIVersion = "Pod", "v1"
		if pb, err := runtime.Encode(info.Serializer, pod); err == nil {
			f.Add(pb, uint8(2))
		}
	}
	f.Add([]byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"cpu":"1e400"}}}]}}`), uint8(0))
	f.Add([]byte(`{"metadata":{"name":"x","labels":{"a":"b"},"generateName":"x-"},"spec":{"containers":[{"name":"a","image":"b","ports":[{"containerPort":99999}]}]}}`), uint8(0))
	f.Add([]byte("k8s\x00\n\x02v1"), uint8(2))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[`), uint8(0))
	f.Add([]byte("a: &a [*a,*a,*a,*a]\nb: &b [*a,*a,*a,*a]\nc: [*b,*b,*b,*b]"), uint8(1))
	f.Fuzz(func(t *testing.T, body []byte, ct uint8) {
		typ := bodyTypes[int(ct)%len(bodyTypes)]
		noServerError(t, serve(t, h, http.MethodPost, "/api/v1/namespaces/default/pods?fieldValidation=Strict", typ, body), "create "+typ)
	})
}

func FuzzPatchPod(f *testing.F) {
	h := fuzzHandler(f)
	types := []string{"application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json"}
	f.Add([]byte(`[{"op":"add","path":"/metadata/labels/x","value":"y"}]`), uint8(0))
	f.Add([]byte(`[{"op":"copy","from":"/spec","path":"/metadata/annotations/a"}]`), uint8(0))
	f.Add([]byte(`[{"op":"move","from":"/metadata","path":"/metadata/x"}]`), uint8(0))
	f.Add([]byte(`{"metadata":{"labels":{"x":null}},"spec":{"containers":null}}`), uint8(1))
	f.Add([]byte(`{"spec":{"containers":[{"name":"app","image":"busybox:2"}]}}`), uint8(2))
	f.Add([]byte(`{"spec":{"$setElementOrder/containers":[{"name":"z"}],"containers":[{"$patch":"delete","name":"app"}]}}`), uint8(2))
	f.Add([]byte(`{"status":{"phase":"Running","podIP":"::::"}}`), uint8(1))
	f.Fuzz(func(t *testing.T, patch []byte, typ uint8) {
		ct := types[int(typ)%len(types)]
		for _, target := range []string{"/api/v1/namespaces/default/pods/web", "/api/v1/namespaces/default/pods/web/status"} {
			noServerError(t, serve(t, h, http.MethodPatch, target, ct, patch), "patch "+ct+" "+target)
		}
		noServerError(t, serve(t, h, http.MethodGet, "/api/v1/namespaces/default/pods/web", "", nil), "get after patch")
	})
}

func FuzzListQuery(f *testing.F) {
	h := fuzzHandler(f)
	for _, q := range []string{
		"labelSelector=app%3Dweb", "labelSelector=a+in+(b,c),!d", "fieldSelector=metadata.name%3Dweb,spec.nodeName!%3Dx",
		"limit=1", "limit=-5&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiIuLiJ9", "resourceVersion=99999999999999999999",
		"resourceVersion=3&resourceVersionMatch=Exact", "continue=%FF", "labelSelector=" + url.QueryEscape("a"+string(make([]byte, 300))),
		"fieldSelector=status.phase%3D%3DRunning", "includeObject=Object",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		// A watch would wait for events: lists only.
		q.Del("watch")
		for _, path := range []string{"/api/v1/pods", "/api/v1/namespaces/default/pods", "/api/v1/namespaces"} {
			noServerError(t, serve(t, h, http.MethodGet, path+"?"+q.Encode(), "", nil), "list "+q.Encode())
		}
		req := httptest.NewRequest(http.MethodGet, "/api/v1/pods?"+q.Encode(), nil)
		req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		noServerError(t, rec, "table "+q.Encode())
	})
}

// FuzzPodQuantities puts arbitrary strings where pod specs hold
// quantities.
func FuzzPodQuantities(f *testing.F) {
	h := fuzzHandler(f)
	for _, q := range []string{"100m", "1.5Gi", "1e3", "-1", "0.0000000001", "9223372036854775807Ei", "1e-400", "+.5", "1Mi1", "",
		// apimachinery takes seconds to minutes on these (at larger sizes): refused up front.
		"1e-999999999", "0." + strings.Repeat("0", 20000) + "1", "1" + strings.Repeat("0", 20000)} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		pod := testPod("q")
		body := mustJSON(t, pod)
		body = bytes.Replace(body, []byte(`"image":"busybox:1.36"`),
			[]byte(`"image":"busybox:1.36","resources":{"requests":{"cpu":`+quote(q)+`},"limits":{"memory":`+quote(q)+`}}`), 1)
		rec := serve(t, h, http.MethodPost, "/api/v1/namespaces/default/pods?dryRun=All", "application/json", body)
		noServerError(t, rec, "create with quantity "+q)
	})
}

func quote(s string) string {
	data, _ := json.Marshal(s)
	return string(data)
}
