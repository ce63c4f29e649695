package rbac

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
)

// Source reads the RBAC objects.
type Source interface {
	GetRole(ctx context.Context, ns, name string) (*rbacv1.Role, error)
	GetClusterRole(ctx context.Context, name string) (*rbacv1.ClusterRole, error)
	ListRoleBindings(ctx context.Context, ns string) ([]*rbacv1.RoleBinding, error)
	ListClusterRoleBindings(ctx context.Context) ([]*rbacv1.ClusterRoleBinding, error)
}

// Resolver finds the rules that apply to a user (DefaultRuleResolver
// upstream).
type Resolver struct {
	Source Source
}

// visitor sees each rule that applies, with where it comes from, or an
// error met resolving them; returning false stops the walk.
type visitor func(source fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool

// VisitRulesFor walks the rules of the ClusterRoleBindings and, in
// namespace ns, the RoleBindings that bind u.
func (r *Resolver) VisitRulesFor(ctx context.Context, u user.Info, ns string, visit visitor) {
	crbs, err := r.Source.ListClusterRoleBindings(ctx)
	if err != nil {
		if !visit(nil, nil, err) {
			return
		}
	}
	for _, b := range crbs {
		i, ok := appliesTo(u, b.Subjects, "")
		if !ok {
			continue
		}
		rules, err := r.RoleRefRules(ctx, b.RoleRef, "")
		if err != nil {
			if !visit(nil, nil, err) {
				return
			}
			continue
		}
		src := bindingSource{kind: "ClusterRoleBinding", name: b.Name, ref: b.RoleRef, subject: b.Subjects[i]}
		for j := range rules {
			if !visit(src, &rules[j], nil) {
				return
			}
		}
	}
	if ns == "" {
		return
	}
	rbs, err := r.Source.ListRoleBindings(ctx, ns)
	if err != nil {
		visit(nil, nil, err)
		return
	}
	for _, b := range rbs {
		i, ok := appliesTo(u, b.Subjects, ns)
		if !ok {
			continue
		}
		rules, err := r.RoleRefRules(ctx, b.RoleRef, ns)
		if err != nil {
			if !visit(nil, nil, err) {
				return
			}
			continue
		}
		src := bindingSource{kind: "RoleBinding", name: b.Name + "/" + ns, ns: ns, ref: b.RoleRef, subject: b.Subjects[i]}
		for j := range rules {
			if !visit(src, &rules[j], nil) {
				return
			}
		}
	}
}

// RulesFor returns every rule that applies to u in ns; an error comes with
// the rules that could be resolved (rules only add, so they still count).
func (r *Resolver) RulesFor(ctx context.Context, u user.Info, ns string) ([]rbacv1.PolicyRule, error) {
	var rules []rbacv1.PolicyRule
	var errs []error
	r.VisitRulesFor(ctx, u, ns, func(_ fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if rule != nil {
			rules = append(rules, *rule)
		}
		if err != nil {
			errs = append(errs, err)
		}
		return true
	})
	return rules, utilerrors.NewAggregate(errs)
}

// RoleRefRules returns the rules of the role a binding in ns refers to.
func (r *Resolver) RoleRefRules(ctx context.Context, ref rbacv1.RoleRef, ns string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		role, err := r.Source.GetRole(ctx, ns, ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	case "ClusterRole":
		role, err := r.Source.GetClusterRole(ctx, ref.Name)
		if err != nil {
			return nil, err
		}
		return role.Rules, nil
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// appliesTo returns the index of the first subject that names u.
func appliesTo(u user.Info, subjects []rbacv1.Subject, ns string) (int, bool) {
	for i, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if u.GetName() == s.Name {
				return i, true
			}
		case rbacv1.GroupKind:
			if slices.Contains(u.GetGroups(), s.Name) {
				return i, true
			}
		case rbacv1.ServiceAccountKind:
			// A binding's service account without a namespace is one
			// of the binding's namespace.
			saNS := ns
			if s.Namespace != "" {
				saNS = s.Namespace
			}
			if saNS != "" && serviceaccount.MatchesUsername(saNS, s.Name, u.GetName()) {
				return i, true
			}
		}
	}
	return 0, false
}

// bindingSource describes where a rule comes from, as upstream's reasons
// name it: `RoleBinding "x/ns" of ClusterRole "edit" to User "alice"`.
type bindingSource struct {
	kind, name, ns string
	ref            rbacv1.RoleRef
	subject        rbacv1.Subject
}

func (b bindingSource) String() string {
	return fmt.Sprintf("%s %q of %s %q to %s", b.kind, b.name, b.ref.Kind, b.ref.Name, describeSubject(b.subject, b.ns))
}

func describeSubject(s rbacv1.Subject, ns string) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		if s.Namespace != "" {
			ns = s.Namespace
		}
		return fmt.Sprintf("%s %q", s.Kind, s.Name+"/"+ns)
	}
	return fmt.Sprintf("%s %q", s.Kind, s.Name)
}
