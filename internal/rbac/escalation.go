package rbac

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/component-helpers/auth/rbac/validation"

	"github.com/peapod/peapod/internal/identity"
	"github.com/peapod/peapod/internal/registry"
)

// Guard is escalation prevention (pkg/registry/rbac/*/policybased): a
// user may write a role only with rules they hold themselves, or with the
// `escalate` verb on it; and bind a role only when they hold its rules, or
// the `bind` verb on it. system:masters and in-process writers may do
// anything.
type Guard struct {
	Authorizer *Authorizer
}

// AdmitRole checks a Role or ClusterRole write.
func (g *Guard) AdmitRole(ctx context.Context, res *registry.Resource, ns, name string, rules []rbacv1.PolicyRule, aggregated bool) error {
	u, ok := identity.UserFrom(ctx)
	if !ok || identity.IsPrivileged(u) {
		return nil
	}
	if g.Authorizer.Allowed(ctx, authorizer.AttributesRecord{User: u, Verb: "escalate", APIGroup: rbacv1.GroupName,
		Resource: res.Name, Namespace: ns, Name: name, ResourceRequest: true}) {
		return nil
	}
	if err := g.confirmNoEscalation(ctx, u, ns, rules); err != nil {
		return apierrors.NewForbidden(res.GroupResource(), name, err)
	}
	// An aggregation rule can gather anything: it needs every right.
	if aggregated {
		if err := g.confirmNoEscalation(ctx, u, ns, fullAuthority()); err != nil {
			return apierrors.NewForbidden(res.GroupResource(), name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
	}
	return nil
}

// AdmitBinding checks a RoleBinding or ClusterRoleBinding write.
func (g *Guard) AdmitBinding(ctx context.Context, res *registry.Resource, ns, name string, ref rbacv1.RoleRef) error {
	u, ok := identity.UserFrom(ctx)
	if !ok || identity.IsPrivileged(u) {
		return nil
	}
	refResource := "roles"
	if ref.Kind == "ClusterRole" {
		refResource = "clusterroles"
	}
	if g.Authorizer.Allowed(ctx, authorizer.AttributesRecord{User: u, Verb: "bind", APIGroup: rbacv1.GroupName,
		Resource: refResource, Namespace: ns, Name: ref.Name, ResourceRequest: true}) {
		return nil
	}
	rules, err := g.Authorizer.Resolver.RoleRefRules(ctx, ref, ns)
	if apierrors.IsNotFound(err) {
		// The role's own NotFound, as its store answers it.
		return apierrors.NewNotFound(schema.GroupResource{Group: rbacv1.GroupName, Resource: refResource}, ref.Name)
	}
	if err != nil {
		return apierrors.NewForbidden(res.GroupResource(), name, err)
	}
	if err := g.confirmNoEscalation(ctx, u, ns, rules); err != nil {
		return apierrors.NewForbidden(res.GroupResource(), name, err)
	}
	return nil
}

// confirmNoEscalation is ConfirmNoEscalation: the user's rules in ns must
// cover rules; the error lists what they lack, compacted.
func (g *Guard) confirmNoEscalation(ctx context.Context, u user.Info, ns string, rules []rbacv1.PolicyRule) error {
	owner, resolveErr := g.Authorizer.Resolver.RulesFor(ctx, u, ns)
	covered, missing := validation.Covers(owner, rules)
	if covered {
		return nil
	}
	var lines []string
	for _, r := range compactRules(missing) {
		lines = append(lines, compactString(r))
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	msg := fmt.Sprintf("user %q (groups=%q) is attempting to grant RBAC permissions not currently held:\n%s", u.GetName(), u.GetGroups(), strings.Join(lines, "\n"))
	if resolveErr != nil {
		msg += fmt.Sprintf("; resolution errors: %v", []error{resolveErr})
	}
	return errors.New(msg)
}

// compactRules merges the one-verb rules Covers reports missing back into
// one rule per API group, resource and name set (CompactRules upstream):
// only simple resource rules (one group, one resource, no names) merge.
func compactRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	type key struct{ group, resource string }
	merged := map[key]*rbacv1.PolicyRule{}
	var out []rbacv1.PolicyRule
	var order []key
	for _, r := range rules {
		if len(r.APIGroups) == 1 && len(r.Resources) == 1 && len(r.ResourceNames) == 0 && len(r.NonResourceURLs) == 0 {
			k := key{r.APIGroups[0], r.Resources[0]}
			if m, ok := merged[k]; ok {
				for _, v := range r.Verbs {
					if !slices.Contains(m.Verbs, v) {
						m.Verbs = append(m.Verbs, v)
					}
				}
				continue
			}
			c := *r.DeepCopy()
			merged[k] = &c
			order = append(order, k)
			continue
		}
		out = append(out, r)
	}
	for _, k := range order {
		out = append(out, *merged[k])
	}
	return out
}

// compactString is how upstream prints a rule in escalation errors:
// {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}.
func compactString(r rbacv1.PolicyRule) string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, fmt.Sprintf("%s:%q", name, v))
		}
	}
	add("APIGroups", r.APIGroups)
	add("Resources", r.Resources)
	add("NonResourceURLs", r.NonResourceURLs)
	add("ResourceNames", r.ResourceNames)
	add("Verbs", r.Verbs)
	return "{" + strings.Join(parts, ", ") + "}"
}
