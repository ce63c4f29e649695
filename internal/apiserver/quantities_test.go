package apiserver

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

func TestCheckQuantities(t *testing.T) {
	podType := reflect.TypeOf(&corev1.Pod{})
	pod := func(q string) string {
		return `{"metadata":{"name":"x","annotations":{"a":"1e-999999999"}},"spec":{"containers":[{"name":"c","image":"i","resources":{"limits":{"memory":` + q + `}}}],` +
			`"volumes":[{"name":"v","emptyDir":{"sizeLimit":"1Gi"}}]}}`
	}
	for _, tc := range []struct {
		name, body, mediaType, wantErr string
	}{
		{name: "plain", body: pod(`"128Mi"`)},
		{name: "annotation that looks like a quantity is not one", body: pod(`"1e3"`)},
		{name: "small exponent", body: pod(`"1e-999"`)},
		{name: "number", body: pod(`12345`)},
		{name: "huge negative exponent", body: pod(`"1e-999999999"`), wantErr: `spec.containers[0].resources.limits[memory]: quantity "1e-999999999" has an exponent beyond`},
		{name: "exponent overflowing int64", body: pod(`"1e99999999999999999999"`), wantErr: "has an exponent beyond"},
		{name: "numeric exponent", body: pod(`1E+5000`), wantErr: "has an exponent beyond"},
		{name: "long mantissa", body: pod(`"1` + strings.Repeat("0", 100000) + `"`), wantErr: "quantity of 100001 characters is longer than the 64"},
		{name: "yaml", mediaType: "application/yaml", body: "spec:\n  overhead:\n    cpu: \"1e-99999\"\n", wantErr: "spec.overhead[cpu]: quantity"},
		{name: "a key given twice", body: `{"spec":{"overhead":{"cpu":"1e-99999"},"overhead":{}}}`, wantErr: "spec.overhead[cpu]"},
		{name: "a quantity inside a list of maps", body: `{"spec":{"containers":[{"name":"a"},{"resources":{"claims":[],"requests":{"x":1e-99999}}}]}}`, wantErr: "spec.containers[1].resources.requests[x]"},
		{name: "not JSON is left to the decoder", body: `{"spec": 1e-99999`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt := tc.mediaType
			if mt == "" {
				mt = "application/json"
			}
			err := checkQuantities([]byte(tc.body), mt, podType)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckProtobufQuantities(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	ser := protobuf.NewSerializer(scheme, scheme)
	encode := func(q string, secret []byte) []byte {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1")}}}}}}
		p.Annotations = map[string]string{"blob": string(secret)}
		var b strings.Builder
		if err := ser.Encode(p, &b); err != nil {
			t.Fatal(err)
		}
		// Put q where the Quantity "1" was, as a client could.
		return []byte(strings.Replace(b.String(), "\x0a\x01\x31", "\x0a"+string(rune(len(q)))+q, 1))
	}
	if err := checkQuantities(encode("1e-99999999", nil), protobufType, nil); err == nil || !strings.Contains(err.Error(), "exponent beyond") {
		t.Fatalf("protobuf with a huge exponent: %v", err)
	}
	if err := checkQuantities(encode("100Mi", []byte("e99999 1e-9999999")), protobufType, nil); err != nil {
		t.Fatalf("protobuf with an unframed blob: %v", err)
	}
}

// TestHugeQuantitiesRefused checks the edge: a create and a patch with a
// quantity apimachinery would take minutes to parse get a 400 naming the
// field, and the stored pod is unchanged.
func TestHugeQuantitiesRefused(t *testing.T) {
	srv, _ := newTestAPI(t, 1000)
	h := srv.Handler()
	body := bytes.Replace(mustJSON(t, testPod("q")), []byte(`"image":"busybox:1.36"`),
		[]byte(`"image":"busybox:1.36","resources":{"requests":{"cpu":"1e-999999999"}}`), 1)
	rec := serve(t, h, http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", body)
	want := `Pod in version \"v1\" cannot be handled as a Pod: spec.containers[0].resources.requests[cpu]: quantity \"1e-999999999\" has an exponent beyond`
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), want) {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(t, h, http.MethodPost, "/api/v1/namespaces/default/pods", "application/json", mustJSON(t, testPod("q"))); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	patch := `{"spec":{"overhead":{"memory":"1` + strings.Repeat("0", 1000) + `"}}}`
	rec = serve(t, h, http.MethodPatch, "/api/v1/namespaces/default/pods/q", "application/merge-patch+json", []byte(patch))
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "spec.overhead[memory]: quantity of 1001 characters") {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
}
