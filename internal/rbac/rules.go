// Package rbac decides access as kube-apiserver's RBAC authorizer does
// (plugin/pkg/auth/authorizer/rbac): the rules of every Role and
// ClusterRole bound to a user, a group of theirs or their service account
// allow a request when one rule matches its verb, API group, resource,
// subresource and name (or its non-resource path). It also holds what
// surrounds the authorizer upstream: the rule resolver behind access
// reviews and escalation prevention, the default roles and bindings of the
// bootstrap policy, and the ClusterRole aggregation controller.
package rbac

import (
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// RuleAllows reports whether rule allows the request a.
func RuleAllows(a authorizer.Attributes, rule *rbacv1.PolicyRule) bool {
	if !verbMatches(rule, a.GetVerb()) {
		return false
	}
	if !a.IsResourceRequest() {
		return nonResourceURLMatches(rule, a.GetPath())
	}
	resource := a.GetResource()
	if sub := a.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	return apiGroupMatches(rule, a.GetAPIGroup()) &&
		resourceMatches(rule, resource, a.GetSubresource()) &&
		resourceNameMatches(rule, a.GetName())
}

func verbMatches(rule *rbacv1.PolicyRule, verb string) bool {
	return slices.Contains(rule.Verbs, rbacv1.VerbAll) || slices.Contains(rule.Verbs, verb)
}

func apiGroupMatches(rule *rbacv1.PolicyRule, group string) bool {
	return slices.Contains(rule.APIGroups, rbacv1.APIGroupAll) || slices.Contains(rule.APIGroups, group)
}

// resourceMatches: "*", the resource with its subresource
// ("pods/log"), or "*/<subresource>" (every resource's subresource); as
// upstream, "pods/*" matches nothing special.
func resourceMatches(rule *rbacv1.PolicyRule, combined, subresource string) bool {
	for _, r := range rule.Resources {
		switch {
		case r == rbacv1.ResourceAll, r == combined:
			return true
		case subresource != "" && r == "*/"+subresource:
			return true
		}
	}
	return false
}

// resourceNameMatches: a rule without names matches every name; one with
// names matches only requests naming one of them.
func resourceNameMatches(rule *rbacv1.PolicyRule, name string) bool {
	return len(rule.ResourceNames) == 0 || slices.Contains(rule.ResourceNames, name)
}

// nonResourceURLMatches: "*", the exact path, or a prefix ending in "*".
func nonResourceURLMatches(rule *rbacv1.PolicyRule, path string) bool {
	for _, u := range rule.NonResourceURLs {
		switch {
		case u == rbacv1.NonResourceAll, u == path:
			return true
		case strings.HasSuffix(u, "*") && strings.HasPrefix(path, strings.TrimSuffix(u, "*")):
			return true
		}
	}
	return false
}
