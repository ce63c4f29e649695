package rbac

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/peapod/peapod/internal/identity"
)

// Authorizer is kube-apiserver's authorization chain for peapod: the
// privileged-group authorizer (system:masters may do everything) and then
// RBAC. A request no rule allows gets no opinion, which the API server
// turns into 403.
type Authorizer struct {
	Resolver *Resolver
}

// New returns an Authorizer over src.
func New(src Source) *Authorizer { return &Authorizer{Resolver: &Resolver{Source: src}} }

// Authorize decides a request. The reason of an allow names the binding
// that allowed it; the reason of a denial holds the errors met resolving
// the user's roles (a binding to a missing role), as upstream's.
func (a *Authorizer) Authorize(ctx context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	u := attrs.GetUser()
	if u == nil {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if identity.IsPrivileged(u) {
		return authorizer.DecisionAllow, "", nil
	}
	var (
		allowed bool
		reason  string
		errs    []error
	)
	a.Resolver.VisitRulesFor(ctx, u, attrs.GetNamespace(), func(src fmt.Stringer, rule *rbacv1.PolicyRule, err error) bool {
		if err != nil {
			errs = append(errs, err)
			return true
		}
		if RuleAllows(attrs, rule) {
			allowed, reason = true, fmt.Sprintf("RBAC: allowed by %s", src)
			return false
		}
		return true
	})
	if allowed {
		return authorizer.DecisionAllow, reason, nil
	}
	if len(errs) > 0 {
		reason = fmt.Sprintf("RBAC: %v", utilerrors.NewAggregate(errs))
	}
	return authorizer.DecisionNoOpinion, reason, nil
}

// Allowed reports whether attrs is allowed (for callers that only need
// the decision: impersonation, escalation, binding).
func (a *Authorizer) Allowed(ctx context.Context, attrs authorizer.Attributes) bool {
	d, _, _ := a.Authorize(ctx, attrs)
	return d == authorizer.DecisionAllow
}

// RulesFor returns what u may do in ns, as SelfSubjectRulesReview reports
// it: everything for system:masters, else the rules of u's bindings; the
// error tells that the list may be incomplete.
func (a *Authorizer) RulesFor(ctx context.Context, u user.Info, ns string) ([]rbacv1.PolicyRule, error) {
	if identity.IsPrivileged(u) {
		return fullAuthority(), nil
	}
	return a.Resolver.RulesFor(ctx, u, ns)
}

// fullAuthority is every right: cluster-admin's rules.
func fullAuthority() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
		{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
	}
}
