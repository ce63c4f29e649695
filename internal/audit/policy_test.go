package audit

import (
	"strings"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

const testPolicy = `
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  users: ["system:kube-proxy"]
- level: None
  resources:
  - group: ""
    resources: ["events"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
    resourceNames: ["controller-leader"]
- level: Request
  verbs: ["create"]
  namespaces: ["kube-system"]
- level: Metadata
  userGroups: ["system:serviceaccounts"]
  omitStages: [ResponseStarted]
- level: Request
  resources:
  - group: apps
    resources: ["deployments/*"]
  - group: ""
    resources: ["*/log"]
- level: Metadata
  nonResourceURLs: ["/healthz*", "/version"]
- level: RequestResponse
  resources:
  - group: ""
  omitManagedFields: true
`

func TestPolicyEvaluate(t *testing.T) {
	p, err := ParsePolicy([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	admin := &authnv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}}
	sa := &authnv1.UserInfo{Username: "system:serviceaccount:default:x", Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	res := func(group, resource, sub, ns, name string) *auditv1.ObjectReference {
		return &auditv1.ObjectReference{APIGroup: group, Resource: resource, Subresource: sub, Namespace: ns, Name: name}
	}
	for _, tc := range []struct {
		desc  string
		a     Attributes
		level auditv1.Level
		omit  []auditv1.Stage
		mf    bool
	}{
		{"user None", Attributes{User: &authnv1.UserInfo{Username: "system:kube-proxy"}, Verb: "get", Resource: res("", "pods", "", "default", "p")}, auditv1.LevelNone, nil, false},
		{"resource None", Attributes{User: admin, Verb: "list", Resource: res("", "events", "", "default", "")}, auditv1.LevelNone, nil, false},
		{"resourceNames match", Attributes{User: admin, Verb: "get", Resource: res("", "configmaps", "", "kube-system", "controller-leader")}, auditv1.LevelRequestResponse, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"resourceNames no match falls to namespaces rule", Attributes{User: admin, Verb: "create", Resource: res("", "configmaps", "", "kube-system", "other")}, auditv1.LevelRequest, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"namespaces rule wants a resource request", Attributes{User: admin, Verb: "create", Path: "/apis"}, auditv1.LevelNone, nil, false},
		{"userGroups", Attributes{User: sa, Verb: "get", Resource: res("", "pods", "", "default", "p")}, auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted}, false},
		{"resource/* matches a subresource", Attributes{User: admin, Verb: "update", Resource: res("apps", "deployments", "scale", "default", "d")}, auditv1.LevelRequest, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		// As k8s.io/apiserver's checker: "resource/*" matches the resource too.
		{"resource/* matches the resource", Attributes{User: admin, Verb: "get", Resource: res("apps", "deployments", "", "default", "d")}, auditv1.LevelRequest, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"*/subresource", Attributes{User: admin, Verb: "get", Resource: res("", "pods", "log", "default", "p")}, auditv1.LevelRequest, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"nonResourceURLs prefix", Attributes{User: admin, Verb: "get", Path: "/healthz/ping"}, auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"nonResourceURLs exact", Attributes{User: admin, Verb: "get", Path: "/version"}, auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived}, false},
		{"nonResourceURLs no match", Attributes{User: admin, Verb: "get", Path: "/versions"}, auditv1.LevelNone, nil, false},
		{"group with no resources matches all of it", Attributes{User: admin, Verb: "get", Resource: res("", "pods", "", "default", "p")}, auditv1.LevelRequestResponse, []auditv1.Stage{auditv1.StageRequestReceived}, true},
		{"secrets never above Metadata", Attributes{User: admin, Verb: "create", Resource: res("", "secrets", "", "default", "")}, auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived}, true},
		{"TokenRequests never above Metadata", Attributes{User: admin, Verb: "create", Resource: res("", "serviceaccounts", "token", "default", "x")}, auditv1.LevelMetadata, []auditv1.Stage{auditv1.StageRequestReceived}, true},
		{"unauthenticated", Attributes{Verb: "get", Resource: res("", "pods", "", "default", "")}, auditv1.LevelRequestResponse, []auditv1.Stage{auditv1.StageRequestReceived}, true},
		{"other group matches no rule", Attributes{User: admin, Verb: "get", Resource: res("batch", "jobs", "", "default", "")}, auditv1.LevelNone, nil, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			d := p.Evaluate(tc.a)
			if d.Level == auditv1.LevelNone {
				d.OmitStages = nil // nothing is written
			}
			if d.Level != tc.level || strings.Join(stages(d.OmitStages), ",") != strings.Join(stages(tc.omit), ",") || d.OmitManagedFields != tc.mf {
				t.Errorf("got %s omit %v managedFields %v, want %s omit %v managedFields %v", d.Level, d.OmitStages, d.OmitManagedFields, tc.level, tc.omit, tc.mf)
			}
		})
	}
}

func stages(s []auditv1.Stage) []string {
	out := make([]string, len(s))
	for i, st := range s {
		out[i] = string(st)
	}
	return out
}

func TestDefaultPolicy(t *testing.T) {
	d := DefaultPolicy().Evaluate(Attributes{Verb: "get", Path: "/api"})
	if d.Level != auditv1.LevelMetadata || len(d.OmitStages) != 1 || d.OmitStages[0] != auditv1.StageRequestReceived {
		t.Errorf("default policy: got %+v", d)
	}
}

func TestParsePolicyErrors(t *testing.T) {
	head := "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
	for _, tc := range []struct{ desc, yaml, want string }{
		{"unknown field", head + "rules:\n- level: None\n  bogus: 1\n", `unknown field "bogus"`},
		{"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Pod\nrules:\n- level: None\n", "kind Policy"},
		{"wrong version", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n", "apiVersion audit.k8s.io/v1"},
		{"no rules", head, "no rules"},
		{"bad level", head + "rules:\n- level: Everything\n", `rules[0].level: Unsupported value: "Everything"`},
		{"missing level", head + "rules:\n- verbs: [get]\n", "rules[0].level: Required value"},
		{"bad stage", head + "omitStages: [Sometimes]\nrules:\n- level: None\n", `omitStages[0]: Unsupported value: "Sometimes"`},
		{"resources and URLs", head + "rules:\n- level: None\n  nonResourceURLs: [/x]\n  namespaces: [a]\n", "both regular resources and non-resource URLs"},
		{"URL without slash", head + "rules:\n- level: None\n  nonResourceURLs: [x]\n", "must begin with a '/'"},
		{"wildcard inside URL", head + "rules:\n- level: None\n  nonResourceURLs: [/a*/b]\n", "must be the final character"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ParsePolicy([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}
