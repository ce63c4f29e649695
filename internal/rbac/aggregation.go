package rbac

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/registry"
)

// Aggregator is the ClusterRole aggregation controller
// (pkg/controller/clusterroleaggregation): a ClusterRole with an
// aggregationRule gets, as its rules, the rules of every other ClusterRole
// whose labels one of its selectors matches, in name order, each rule
// once.
type Aggregator struct {
	ClusterRoles *registry.Store
	Log          *slog.Logger
}

// Run keeps aggregated roles up to date until ctx ends.
func (a *Aggregator) Run(ctx context.Context) error {
	l := &controller.Loop{Name: "clusterrole-aggregation", Log: a.Log, Sync: a.sync}
	// Any ClusterRole change may change any aggregation: one key
	// resyncs them all (there are a handful).
	return l.Run(ctx, controller.Source{Store: a.ClusterRoles, Handle: func(controller.Event) { l.Add("all") }})
}

func (a *Aggregator) sync(ctx context.Context, _ string) (time.Duration, error) {
	list, err := a.ClusterRoles.List(ctx, "", registry.ListOptions{})
	if err != nil {
		return 0, err
	}
	roles := list.(*rbacv1.ClusterRoleList).Items
	slices.SortFunc(roles, func(x, y rbacv1.ClusterRole) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	for i := range roles {
		role := &roles[i]
		if role.AggregationRule == nil {
			continue
		}
		rules, err := aggregate(role, roles)
		if err != nil {
			a.Log.Warn("clusterrole aggregation: a selector is invalid and was skipped", "clusterrole", role.Name, "err", err)
		}
		if apiequality.Semantic.DeepEqual(rules, role.Rules) {
			continue
		}
		_, err = a.ClusterRoles.Update(ctx, "", role.Name, func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*rbacv1.ClusterRole).DeepCopy()
			c.Rules = rules
			return c, nil
		}, registry.UpdateOptions{})
		if err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// aggregate returns the rules role aggregates from roles (sorted by name).
func aggregate(role *rbacv1.ClusterRole, roles []rbacv1.ClusterRole) ([]rbacv1.PolicyRule, error) {
	rules := []rbacv1.PolicyRule{}
	var errs []error
	for i := range role.AggregationRule.ClusterRoleSelectors {
		sel, err := metav1.LabelSelectorAsSelector(&role.AggregationRule.ClusterRoleSelectors[i])
		if err != nil {
			errs = append(errs, err) // skip it, as upstream; the others still count
			continue
		}
		for j := range roles {
			other := &roles[j]
			if other.Name == role.Name || !sel.Matches(labels.Set(other.Labels)) {
				continue
			}
			for _, r := range other.Rules {
				if !slices.ContainsFunc(rules, func(have rbacv1.PolicyRule) bool { return apiequality.Semantic.DeepEqual(have, r) }) {
					rules = append(rules, r)
				}
			}
		}
	}
	return rules, errors.Join(errs...)
}
