package rbac

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/peapod/peapod/internal/registry"
)

// The bootstrap policy's markers (plugin/pkg/auth/authorizer/rbac/bootstrappolicy).
const (
	autoUpdateAnnotation = "rbac.authorization.kubernetes.io/autoupdate"
	bootstrapLabel       = "kubernetes.io/bootstrapping"
	aggregateToAdmin     = "rbac.authorization.k8s.io/aggregate-to-admin"
	aggregateToEdit      = "rbac.authorization.k8s.io/aggregate-to-edit"
	aggregateToView      = "rbac.authorization.k8s.io/aggregate-to-view"
)

var (
	read      = []string{"get", "list", "watch"}
	write     = []string{"create", "delete", "deletecollection", "patch", "update"}
	readWrite = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

func clusterRole(name string, labels map[string]string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	l := map[string]string{bootstrapLabel: "rbac-defaults"}
	for k, v := range labels {
		l[k] = v
	}
	return rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: map[string]string{autoUpdateAnnotation: "true"}},
		Rules:      rules,
	}
}

func aggregated(name string, labels map[string]string, selectorLabel string) rbacv1.ClusterRole {
	r := clusterRole(name, labels)
	r.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{selectorLabel: "true"}}}}
	return r
}

// DefaultClusterRoles are the ClusterRoles kube-apiserver bootstraps that
// mean something on a peapod node: the user-facing admin, edit and view
// (aggregated from the system:aggregate-to-* roles, so that a role labelled
// for aggregation extends them), cluster-admin, and the system roles for
// discovery, self-review, health, metrics and CSR approval; plus
// metrics-server's system:aggregated-metrics-reader, since peapod serves
// the metrics API. The rules are upstream's, for the resources of every
// group upstream names (whether peapod serves them or not, so that a role
// copied from a cluster means the same).
func DefaultClusterRoles() []rbacv1.ClusterRole {
	none := map[string]string(nil)
	return []rbacv1.ClusterRole{
		clusterRole("cluster-admin", none,
			rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			urls([]string{"*"}, "*")),
		aggregated("admin", none, aggregateToAdmin),
		aggregated("edit", map[string]string{aggregateToAdmin: "true"}, aggregateToEdit),
		aggregated("view", map[string]string{aggregateToEdit: "true"}, aggregateToView),
		clusterRole("system:aggregate-to-admin", map[string]string{aggregateToAdmin: "true"},
			rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
			rule(readWrite, rbacv1.GroupName, "rolebindings", "roles")),
		clusterRole("system:aggregate-to-edit", map[string]string{aggregateToEdit: "true"},
			rule(read, "", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
			rule([]string{"impersonate"}, "", "serviceaccounts"),
			rule(write, "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
			rule([]string{"create"}, "", "pods/eviction"),
			rule(write, "", "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale",
				"secrets", "serviceaccounts", "services", "services/proxy"),
			rule([]string{"create"}, "", "serviceaccounts/token"),
			rule(write, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
				"replicasets/scale", "statefulsets", "statefulsets/scale"),
			rule(write, "autoscaling", "horizontalpodautoscalers"),
			rule(write, "batch", "cronjobs", "jobs"),
			rule(write, "extensions", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
				"networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"),
			rule(write, "policy", "poddisruptionbudgets"),
			rule(write, "networking.k8s.io", "ingresses", "networkpolicies"),
			rule(readWrite, "coordination.k8s.io", "leases")),
		clusterRole("system:aggregate-to-view", map[string]string{aggregateToView: "true"},
			rule(read, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
				"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
			rule(read, "", "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
				"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
			rule(read, "", "namespaces"),
			rule(read, "discovery.k8s.io", "endpointslices"),
			rule(read, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
				"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale",
				"statefulsets/status"),
			rule(read, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
			rule(read, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
			rule(read, "extensions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
				"ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status",
				"replicationcontrollers/scale"),
			rule(read, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
			rule(read, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies")),
		clusterRole("system:aggregated-metrics-reader",
			map[string]string{aggregateToAdmin: "true", aggregateToEdit: "true", aggregateToView: "true"},
			rule(read, "metrics.k8s.io", "pods", "nodes")),
		clusterRole("system:auth-delegator", none,
			rule([]string{"create"}, "authentication.k8s.io", "tokenreviews"),
			rule([]string{"create"}, "authorization.k8s.io", "subjectaccessreviews")),
		clusterRole("system:basic-user", none,
			rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews")),
		clusterRole("system:discovery", none,
			urls([]string{"get"}, "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/")),
		clusterRole("system:public-info-viewer", none,
			urls([]string{"get"}, "/healthz", "/livez", "/readyz", "/version", "/version/")),
		clusterRole("system:monitoring", none,
			urls([]string{"get"}, "/healthz", "/healthz/*", "/livez", "/livez/*", "/metrics", "/metrics/slis", "/readyz", "/readyz/*")),
		csrApprover("kube-apiserver-client"),
		csrApprover("kube-apiserver-client-kubelet"),
		csrApprover("legacy-unknown"),
	}
}

func csrApprover(signer string) rbacv1.ClusterRole {
	r := rbacv1.PolicyRule{Verbs: []string{"approve"}, APIGroups: []string{"certificates.k8s.io"}, Resources: []string{"signers"},
		ResourceNames: []string{"kubernetes.io/" + signer}}
	return clusterRole("system:certificates.k8s.io:"+signer+"-approver", nil, r)
}

func clusterBinding(role string, groups ...string) rbacv1.ClusterRoleBinding {
	b := rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role, Labels: map[string]string{bootstrapLabel: "rbac-defaults"},
			Annotations: map[string]string{autoUpdateAnnotation: "true"}},
		RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
	}
	for _, g := range groups {
		b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
	}
	return b
}

// DefaultClusterRoleBindings bind the default roles as upstream does.
func DefaultClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	return []rbacv1.ClusterRoleBinding{
		clusterBinding("cluster-admin", user.SystemPrivilegedGroup),
		clusterBinding("system:basic-user", user.AllAuthenticated),
		clusterBinding("system:discovery", user.AllAuthenticated),
		clusterBinding("system:public-info-viewer", user.AllAuthenticated, user.AllUnauthenticated),
		clusterBinding("system:monitoring", "system:monitoring"),
	}
}

// EnsureDefaults creates the default roles and bindings that are missing
// and, for those still marked autoupdate=true, adds back the rules and
// subjects upstream's reconciliation adds (it never removes what an admin
// added). Aggregated roles' rules are the aggregation controller's.
func EnsureDefaults(ctx context.Context, clusterRoles, clusterRoleBindings *registry.Store) error {
	for _, want := range DefaultClusterRoles() {
		if err := ensure(ctx, clusterRoles, &want, func(cur runtime.Object) (runtime.Object, bool) {
			have := cur.(*rbacv1.ClusterRole).DeepCopy()
			changed := false
			if want.AggregationRule != nil && have.AggregationRule == nil {
				have.AggregationRule, changed = want.AggregationRule, true
			}
			if want.AggregationRule == nil {
				if ok, missing := validation.Covers(have.Rules, want.Rules); !ok {
					have.Rules, changed = append(have.Rules, missing...), true
				}
			}
			for k, v := range want.Labels {
				if have.Labels[k] != v {
					if have.Labels == nil {
						have.Labels = map[string]string{}
					}
					have.Labels[k], changed = v, true
				}
			}
			return have, changed
		}); err != nil {
			return fmt.Errorf("clusterrole %s: %w", want.Name, err)
		}
	}
	for _, want := range DefaultClusterRoleBindings() {
		if err := ensure(ctx, clusterRoleBindings, &want, func(cur runtime.Object) (runtime.Object, bool) {
			have := cur.(*rbacv1.ClusterRoleBinding).DeepCopy()
			changed := false
			for _, s := range want.Subjects {
				if !slices.Contains(have.Subjects, s) {
					have.Subjects, changed = append(have.Subjects, s), true
				}
			}
			return have, changed
		}); err != nil {
			return fmt.Errorf("clusterrolebinding %s: %w", want.Name, err)
		}
	}
	return nil
}

// ensure creates want, or reconciles the stored object with it while its
// autoupdate annotation is "true".
func ensure(ctx context.Context, st *registry.Store, want metav1.Object, reconcile func(cur runtime.Object) (runtime.Object, bool)) error {
	_, err := st.Create(ctx, "", want.(runtime.Object), false)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	_, err = st.Update(ctx, "", want.GetName(), func(cur runtime.Object) (runtime.Object, error) {
		m := cur.(metav1.Object)
		if m.GetAnnotations()[autoUpdateAnnotation] != "true" {
			return cur, nil
		}
		out, changed := reconcile(cur)
		if !changed {
			return cur, nil
		}
		return out, nil
	}, registry.UpdateOptions{})
	return err
}
