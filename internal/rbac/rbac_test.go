package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/peapod/peapod/internal/identity"
	"github.com/peapod/peapod/internal/registry"
)

func TestRuleAllows(t *testing.T) {
	res := func(verb, group, resource, sub, name string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: verb, APIGroup: group, Resource: resource, Subresource: sub, Name: name, ResourceRequest: true}
	}
	path := func(verb, p string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: verb, Path: p}
	}
	for _, tc := range []struct {
		name  string
		rule  rbacv1.PolicyRule
		attrs authorizer.AttributesRecord
		want  bool
	}{
		{"exact", rule([]string{"get"}, "", "pods"), res("get", "", "pods", "", "x"), true},
		{"other verb", rule([]string{"get"}, "", "pods"), res("list", "", "pods", "", ""), false},
		{"verb star", rule([]string{"*"}, "", "pods"), res("delete", "", "pods", "", "x"), true},
		{"other group", rule([]string{"get"}, "", "deployments"), res("get", "apps", "deployments", "", ""), false},
		{"group star", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{"*"}, Resources: []string{"deployments"}}, res("get", "apps", "deployments", "", ""), true},
		{"subresource needs its own rule", rule([]string{"get"}, "", "pods"), res("get", "", "pods", "log", "x"), false},
		{"subresource", rule([]string{"get"}, "", "pods/log"), res("get", "", "pods", "log", "x"), true},
		{"any resource's subresource", rule([]string{"get"}, "", "*/log"), res("get", "", "pods", "log", "x"), true},
		{"pods/* is not a wildcard", rule([]string{"get"}, "", "pods/*"), res("get", "", "pods", "log", "x"), false},
		{"resource star", rule([]string{"get"}, "", "*"), res("get", "", "pods", "exec", "x"), true},
		{"named", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a"}}, res("get", "", "pods", "", "a"), true},
		{"other name", rbacv1.PolicyRule{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a"}}, res("get", "", "pods", "", "b"), false},
		{"names and a list", rbacv1.PolicyRule{Verbs: []string{"list"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"a"}}, res("list", "", "pods", "", ""), false},
		{"path", urls([]string{"get"}, "/healthz"), path("get", "/healthz"), true},
		{"path prefix", urls([]string{"get"}, "/apis/*"), path("get", "/apis/apps/v1"), true},
		{"path other", urls([]string{"get"}, "/healthz"), path("get", "/metrics"), false},
		{"resource rule and a path", rule([]string{"*"}, "*", "*"), path("get", "/metrics"), false},
		{"path rule and a resource", urls([]string{"*"}, "*"), res("get", "", "pods", "", ""), false},
	} {
		if got := RuleAllows(tc.attrs, &tc.rule); got != tc.want {
			t.Errorf("%s: RuleAllows = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// fakeSource holds RBAC objects in memory for the resolver's logic.
type fakeSource struct {
	roles    []rbacv1.Role
	cluster  []rbacv1.ClusterRole
	bindings []rbacv1.RoleBinding
	crbs     []rbacv1.ClusterRoleBinding
}

func (f *fakeSource) GetRole(_ context.Context, ns, name string) (*rbacv1.Role, error) {
	for i := range f.roles {
		if f.roles[i].Namespace == ns && f.roles[i].Name == name {
			return &f.roles[i], nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "role"}, name)
}

func (f *fakeSource) GetClusterRole(_ context.Context, name string) (*rbacv1.ClusterRole, error) {
	for i := range f.cluster {
		if f.cluster[i].Name == name {
			return &f.cluster[i], nil
		}
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: "clusterrole"}, name)
}

func (f *fakeSource) ListRoleBindings(_ context.Context, ns string) ([]*rbacv1.RoleBinding, error) {
	var out []*rbacv1.RoleBinding
	for i := range f.bindings {
		if f.bindings[i].Namespace == ns {
			out = append(out, &f.bindings[i])
		}
	}
	return out, nil
}

func (f *fakeSource) ListClusterRoleBindings(context.Context) ([]*rbacv1.ClusterRoleBinding, error) {
	out := make([]*rbacv1.ClusterRoleBinding, len(f.crbs))
	for i := range f.crbs {
		out[i] = &f.crbs[i]
	}
	return out, nil
}

func binding(ns, name, kind, role string, subjects ...rbacv1.Subject) rbacv1.RoleBinding {
	return rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: kind, Name: role}, Subjects: subjects}
}

func TestAuthorize(t *testing.T) {
	src := &fakeSource{
		cluster: append(DefaultClusterRoles(), clusterRole("pod-reader", nil, rule([]string{"get", "list"}, "", "pods"))),
		roles: []rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "exec"},
			Rules: []rbacv1.PolicyRule{rule([]string{"create"}, "", "pods/exec")}}},
		crbs: DefaultClusterRoleBindings(),
		bindings: []rbacv1.RoleBinding{
			binding("demo", "alice-read", "ClusterRole", "pod-reader", rbacv1.Subject{Kind: "User", Name: "alice"}),
			binding("demo", "dev-exec", "Role", "exec", rbacv1.Subject{Kind: "Group", Name: "dev"}),
			binding("demo", "sa-read", "ClusterRole", "pod-reader", rbacv1.Subject{Kind: "ServiceAccount", Name: "robot"}),
			binding("demo", "dangling", "Role", "gone", rbacv1.Subject{Kind: "User", Name: "carol"}),
		},
	}
	a := New(src)
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"dev", user.AllAuthenticated}}
	robot := &user.DefaultInfo{Name: "system:serviceaccount:demo:robot", Groups: []string{"system:serviceaccounts", user.AllAuthenticated}}
	otherRobot := &user.DefaultInfo{Name: "system:serviceaccount:other:robot", Groups: []string{user.AllAuthenticated}}
	carol := &user.DefaultInfo{Name: "carol", Groups: []string{user.AllAuthenticated}}
	admin := &user.DefaultInfo{Name: "root", Groups: []string{user.SystemPrivilegedGroup}}
	res := func(u user.Info, verb, ns, resource, sub string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: u, Verb: verb, Namespace: ns, Resource: resource, Subresource: sub, ResourceRequest: true}
	}
	for _, tc := range []struct {
		name   string
		attrs  authorizer.AttributesRecord
		want   authorizer.Decision
		reason string
	}{
		{"user binding", res(alice, "list", "demo", "pods", ""), authorizer.DecisionAllow,
			`RBAC: allowed by RoleBinding "alice-read/demo" of ClusterRole "pod-reader" to User "alice"`},
		{"not in another namespace", res(alice, "list", "default", "pods", ""), authorizer.DecisionNoOpinion, ""},
		{"verb not granted", res(alice, "delete", "demo", "pods", ""), authorizer.DecisionNoOpinion, ""},
		{"group binding", res(alice, "create", "demo", "pods", "exec"), authorizer.DecisionAllow,
			`RBAC: allowed by RoleBinding "dev-exec/demo" of Role "exec" to Group "dev"`},
		{"service account of the binding's namespace", res(robot, "get", "demo", "pods", ""), authorizer.DecisionAllow,
			`RBAC: allowed by RoleBinding "sa-read/demo" of ClusterRole "pod-reader" to ServiceAccount "robot/demo"`},
		{"same name, other namespace", res(otherRobot, "get", "demo", "pods", ""), authorizer.DecisionNoOpinion, ""},
		{"missing role", res(carol, "get", "demo", "pods", ""), authorizer.DecisionNoOpinion,
			`RBAC: role.rbac.authorization.k8s.io "gone" not found`},
		{"discovery for everyone", authorizer.AttributesRecord{User: carol, Verb: "get", Path: "/apis/apps/v1"}, authorizer.DecisionAllow,
			`RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"`},
		{"metrics not for everyone", authorizer.AttributesRecord{User: carol, Verb: "get", Path: "/metrics"}, authorizer.DecisionNoOpinion, ""},
		{"masters", res(admin, "delete", "kube-system", "nodes", ""), authorizer.DecisionAllow, ""},
	} {
		got, reason, err := a.Authorize(context.Background(), tc.attrs)
		if err != nil || got != tc.want || reason != tc.reason {
			t.Errorf("%s: got %v %q %v, want %v %q", tc.name, got, reason, err, tc.want, tc.reason)
		}
	}
}

func TestGuard(t *testing.T) {
	src := &fakeSource{
		cluster: DefaultClusterRoles(),
		crbs:    DefaultClusterRoleBindings(),
		bindings: []rbacv1.RoleBinding{
			binding("demo", "alice-admin", "ClusterRole", "edit", rbacv1.Subject{Kind: "User", Name: "alice"}),
		},
	}
	// edit's rules come from aggregation: do what the controller does.
	aggregateAll(t, src.cluster)
	g := &Guard{Authorizer: New(src)}
	alice := identity.WithUser(context.Background(), &user.DefaultInfo{Name: "alice", Groups: []string{"dev", user.AllAuthenticated}})
	roles := &registry.Resource{Group: rbacv1.GroupName, Name: "roles"}
	bindings := &registry.Resource{Group: rbacv1.GroupName, Name: "rolebindings"}

	if err := g.AdmitRole(alice, roles, "demo", "ok", []rbacv1.PolicyRule{rule([]string{"get", "list"}, "", "pods")}, false); err != nil {
		t.Errorf("a role within alice's rights: %v", err)
	}
	err := g.AdmitRole(alice, roles, "demo", "sec", []rbacv1.PolicyRule{rule([]string{"*"}, "", "secrets"), rule([]string{"get", "list"}, "", "nodes")}, false)
	want := `roles.rbac.authorization.k8s.io "sec" is forbidden: user "alice" (groups=["dev" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:` +
		"\n" + `{APIGroups:[""], Resources:["nodes"], Verbs:["get" "list"]}` + "\n" + `{APIGroups:[""], Resources:["secrets"], Verbs:["*"]}`
	if !apierrors.IsForbidden(err) || err.Error() != want {
		t.Errorf("escalating role:\n got %v\nwant %s", err, want)
	}
	if err := g.AdmitRole(alice, roles, "demo", "agg", nil, true); err == nil || !strings.Contains(err.Error(), "must have cluster-admin privileges to use the aggregationRule") {
		t.Errorf("aggregation rule: %v", err)
	}
	if err := g.AdmitBinding(alice, bindings, "demo", "b", rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"}); err != nil {
		t.Errorf("binding view (within edit): %v", err)
	}
	if err := g.AdmitBinding(alice, bindings, "demo", "b", rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}); !apierrors.IsForbidden(err) {
		t.Errorf("binding cluster-admin: %v", err)
	}
	if err := g.AdmitBinding(alice, bindings, "demo", "b", rbacv1.RoleRef{Kind: "Role", Name: "nope"}); !apierrors.IsNotFound(err) ||
		err.Error() != `roles.rbac.authorization.k8s.io "nope" not found` {
		t.Errorf("binding a missing role: %v", err)
	}
	// bind on the role lets alice bind it without holding it.
	src.bindings = append(src.bindings, binding("demo", "binder", "Role", "binder", rbacv1.Subject{Kind: "User", Name: "alice"}))
	src.roles = append(src.roles, rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: "demo", Name: "binder"}, Rules: []rbacv1.PolicyRule{{
		Verbs: []string{"bind"}, APIGroups: []string{rbacv1.GroupName}, Resources: []string{"clusterroles"}, ResourceNames: []string{"cluster-admin"}}}})
	if err := g.AdmitBinding(alice, bindings, "demo", "b", rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"}); err != nil {
		t.Errorf("binding with the bind verb: %v", err)
	}
	// In-process writers and system:masters are not checked.
	if err := g.AdmitRole(context.Background(), roles, "demo", "x", fullAuthority(), true); err != nil {
		t.Errorf("in-process: %v", err)
	}
}

func TestAggregate(t *testing.T) {
	roles := DefaultClusterRoles()
	var view, edit *rbacv1.ClusterRole
	for i := range roles {
		switch roles[i].Name {
		case "view":
			view = &roles[i]
		case "edit":
			edit = &roles[i]
		}
	}
	aggregateAll(t, roles)
	viewRules, editRules := view.Rules, edit.Rules
	a := func(verb, resource string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{Verb: verb, Resource: resource, ResourceRequest: true}
	}
	allows := func(rules []rbacv1.PolicyRule, attrs authorizer.AttributesRecord) bool {
		for i := range rules {
			if RuleAllows(attrs, &rules[i]) {
				return true
			}
		}
		return false
	}
	if !allows(viewRules, a("list", "pods")) || allows(viewRules, a("get", "secrets")) || allows(viewRules, a("create", "pods")) {
		t.Errorf("view: %v", viewRules)
	}
	// edit aggregates view (labelled aggregate-to-edit) too.
	if !allows(editRules, a("list", "pods")) || !allows(editRules, a("create", "pods")) || !allows(editRules, a("get", "secrets")) {
		t.Errorf("edit: %v", editRules)
	}
	// No rule twice.
	for i := range editRules {
		for j := i + 1; j < len(editRules); j++ {
			if compactString(editRules[i]) == compactString(editRules[j]) {
				t.Errorf("edit holds %s twice", compactString(editRules[i]))
			}
		}
	}
}

// aggregateAll aggregates roles until nothing changes, as the controller
// does as it sees its own updates (edit aggregates view, which aggregates
// system:aggregate-to-view).
func aggregateAll(t *testing.T, roles []rbacv1.ClusterRole) {
	t.Helper()
	for pass := 0; pass < 5; pass++ {
		changed := false
		for i := range roles {
			if roles[i].AggregationRule == nil {
				continue
			}
			rules, err := aggregate(&roles[i], roles)
			if err != nil {
				t.Fatal(err)
			}
			if len(rules) != len(roles[i].Rules) {
				roles[i].Rules, changed = rules, true
			}
		}
		if !changed {
			return
		}
	}
	t.Fatal("aggregation does not settle")
}
