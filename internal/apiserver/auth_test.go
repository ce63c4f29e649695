package apiserver

import (
	"net/http/httptest"
	"reflect"
	"testing"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestAttributesOf(t *testing.T) {
	u := &User{Name: "alice", Groups: []string{"dev"}}
	for _, tc := range []struct {
		method, target string
		want           authorizer.AttributesRecord
	}{
		{"GET", "/api/v1/namespaces/demo/pods", authorizer.AttributesRecord{Verb: "list", APIVersion: "v1", Namespace: "demo", Resource: "pods", ResourceRequest: true}},
		{"GET", "/api/v1/namespaces/demo/pods?watch=1", authorizer.AttributesRecord{Verb: "watch", APIVersion: "v1", Namespace: "demo", Resource: "pods", ResourceRequest: true}},
		{"GET", "/api/v1/watch/namespaces/demo/pods", authorizer.AttributesRecord{Verb: "watch", APIVersion: "v1", Namespace: "demo", Resource: "pods", ResourceRequest: true}},
		// A list of one name is about that name (resourceNames rules).
		{"GET", "/api/v1/namespaces/demo/pods?fieldSelector=metadata.name%3Dweb&watch=true", authorizer.AttributesRecord{Verb: "watch", APIVersion: "v1", Namespace: "demo", Resource: "pods", Name: "web", ResourceRequest: true}},
		{"GET", "/api/v1/namespaces/demo/pods/web/log", authorizer.AttributesRecord{Verb: "get", APIVersion: "v1", Namespace: "demo", Resource: "pods", Subresource: "log", Name: "web", ResourceRequest: true}},
		{"POST", "/api/v1/namespaces/demo/pods/web/exec?command=ls", authorizer.AttributesRecord{Verb: "create", APIVersion: "v1", Namespace: "demo", Resource: "pods", Subresource: "exec", Name: "web", ResourceRequest: true}},
		{"DELETE", "/apis/apps/v1/namespaces/demo/deployments", authorizer.AttributesRecord{Verb: "deletecollection", APIGroup: "apps", APIVersion: "v1", Namespace: "demo", Resource: "deployments", ResourceRequest: true}},
		{"PATCH", "/apis/apps/v1/namespaces/demo/deployments/web/scale", authorizer.AttributesRecord{Verb: "patch", APIGroup: "apps", APIVersion: "v1", Namespace: "demo", Resource: "deployments", Subresource: "scale", Name: "web", ResourceRequest: true}},
		// A namespace is in itself.
		{"PUT", "/api/v1/namespaces/demo/finalize", authorizer.AttributesRecord{Verb: "update", APIVersion: "v1", Namespace: "demo", Resource: "namespaces", Subresource: "finalize", Name: "demo", ResourceRequest: true}},
		{"GET", "/api/v1/namespaces/demo", authorizer.AttributesRecord{Verb: "get", APIVersion: "v1", Namespace: "demo", Resource: "namespaces", Name: "demo", ResourceRequest: true}},
		{"GET", "/api/v1/namespaces", authorizer.AttributesRecord{Verb: "list", APIVersion: "v1", Resource: "namespaces", ResourceRequest: true}},
		{"GET", "/apis/metrics.k8s.io/v1beta1/namespaces/demo/pods", authorizer.AttributesRecord{Verb: "list", APIGroup: "metrics.k8s.io", APIVersion: "v1beta1", Namespace: "demo", Resource: "pods", ResourceRequest: true}},
		{"GET", "/apis/apps/v1", authorizer.AttributesRecord{Verb: "get", Path: "/apis/apps/v1"}},
		{"GET", "/metrics", authorizer.AttributesRecord{Verb: "get", Path: "/metrics"}},
		{"HEAD", "/healthz", authorizer.AttributesRecord{Verb: "head", Path: "/healthz"}},
		{"POST", "/logs", authorizer.AttributesRecord{Verb: "post", Path: "/logs"}},
	} {
		got := attributesOf(httptest.NewRequest(tc.method, tc.target, nil), u)
		want := tc.want
		want.User = got.User
		if want.Path == "" {
			want.Path = got.Path
		}
		if !reflect.DeepEqual(got, want) || got.User.GetName() != "alice" {
			t.Errorf("%s %s:\n got %+v\nwant %+v", tc.method, tc.target, got, want)
		}
	}
}
