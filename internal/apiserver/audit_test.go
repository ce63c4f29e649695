package apiserver

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/peapod/peapod/internal/audit"
)

func TestDescribeForAudit(t *testing.T) {
	admin := &User{Name: "kubernetes-admin", Groups: []string{"system:masters"}, Extra: map[string][]string{"k": {"v"}}}
	for _, tc := range []struct {
		desc, method, target string
		ctx                  func(context.Context) context.Context
		want                 audit.Attributes
		wantImpersonated     *authnv1.UserInfo
	}{
		{"unauthenticated non-resource", "GET", "/version", func(ctx context.Context) context.Context { return ctx },
			audit.Attributes{Verb: "get", Path: "/version"}, nil},
		{"resource", "POST", "/apis/apps/v1/namespaces/ns/deployments", func(ctx context.Context) context.Context { return context.WithValue(ctx, userKey{}, admin) },
			audit.Attributes{Verb: "create", Path: "/apis/apps/v1/namespaces/ns/deployments",
				User:     &authnv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters"}, Extra: map[string]authnv1.ExtraValue{"k": {"v"}}},
				Resource: &auditv1.ObjectReference{Resource: "deployments", Namespace: "ns", APIGroup: "apps", APIVersion: "v1"}}, nil},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, nil)
			r = r.WithContext(tc.ctx(r.Context()))
			got, impersonated := (&Server{}).describeForAudit(r)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantImpersonated, impersonated); diff != "" {
				t.Errorf("impersonated (-want +got):\n%s", diff)
			}
		})
	}
}
