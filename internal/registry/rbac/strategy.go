// Package rbac holds the API behaviour of rbac.authorization.k8s.io/v1
// Roles, ClusterRoles, RoleBindings and ClusterRoleBindings
// (pkg/registry/rbac and pkg/apis/rbac/validation): defaults, validation,
// the immutable roleRef, and escalation prevention: a user may only create
// or change a role granting what they already hold (or hold `escalate` on
// it), and only bind a role whose rights they hold (or hold `bind` on it).
package rbac

import (
	"context"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Guard decides whether the requesting user may write a role or a binding
// (escalation prevention); nil allows everything (in-process writers such
// as the bootstrap policy and the aggregation controller).
type Guard interface {
	// AdmitRole refuses a Role or ClusterRole that grants more than the
	// requesting user holds, unless they may escalate it.
	AdmitRole(ctx context.Context, res *registry.Resource, ns, name string, rules []rbacv1.PolicyRule, aggregated bool) error
	// AdmitBinding refuses a binding to a role whose rights the requesting
	// user does not hold, unless they may bind it.
	AdmitBinding(ctx context.Context, res *registry.Resource, ns, name string, ref rbacv1.RoleRef) error
}

// validateName is ValidateRBACName: any valid path segment (":" allowed).
func validateName(name string, prefix bool) []string { return path.IsValidPathSegmentName(name) }

// RoleStrategy implements registry strategies for Roles and ClusterRoles.
type RoleStrategy struct {
	Cluster bool
	Guard   Guard
	res     *registry.Resource
}

// BindingStrategy implements registry strategies for RoleBindings and
// ClusterRoleBindings.
type BindingStrategy struct {
	Cluster bool
	Guard   Guard
	res     *registry.Resource
}

// RoleResource returns the roles resource.
func RoleResource(g Guard) *registry.Resource {
	s := &RoleStrategy{Guard: g}
	s.res = &registry.Resource{
		Group: rbacv1.GroupName, Version: "v1", Name: "roles", SingularName: "role", Kind: "Role", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.Role{} }, NewList: func() runtime.Object { return &rbacv1.RoleList{} },
		Strategy: s,
	}
	return s.res
}

// ClusterRoleResource returns the clusterroles resource.
func ClusterRoleResource(g Guard) *registry.Resource {
	s := &RoleStrategy{Cluster: true, Guard: g}
	s.res = &registry.Resource{
		Group: rbacv1.GroupName, Version: "v1", Name: "clusterroles", SingularName: "clusterrole", Kind: "ClusterRole",
		New: func() runtime.Object { return &rbacv1.ClusterRole{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleList{} },
		Strategy: s,
	}
	return s.res
}

// RoleBindingResource returns the rolebindings resource.
func RoleBindingResource(g Guard) *registry.Resource {
	s := &BindingStrategy{Guard: g}
	s.res = &registry.Resource{
		Group: rbacv1.GroupName, Version: "v1", Name: "rolebindings", SingularName: "rolebinding", Kind: "RoleBinding", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.RoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Strategy: s,
	}
	return s.res
}

// ClusterRoleBindingResource returns the clusterrolebindings resource.
func ClusterRoleBindingResource(g Guard) *registry.Resource {
	s := &BindingStrategy{Cluster: true, Guard: g}
	s.res = &registry.Resource{
		Group: rbacv1.GroupName, Version: "v1", Name: "clusterrolebindings", SingularName: "clusterrolebinding", Kind: "ClusterRoleBinding",
		New: func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} },
		Strategy: s,
	}
	return s.res
}

func roleParts(obj runtime.Object) (*metav1.ObjectMeta, []rbacv1.PolicyRule, *rbacv1.AggregationRule) {
	switch r := obj.(type) {
	case *rbacv1.Role:
		return &r.ObjectMeta, r.Rules, nil
	case *rbacv1.ClusterRole:
		return &r.ObjectMeta, r.Rules, r.AggregationRule
	}
	return nil, nil, nil
}

// AdmitCreate is escalation prevention on create.
func (s *RoleStrategy) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	if s.Guard == nil {
		return nil
	}
	m, rules, agg := roleParts(obj)
	return s.Guard.AdmitRole(ctx, s.res, m.Namespace, m.Name, rules, agg != nil)
}

// AdmitUpdate is escalation prevention on update. As upstream, every
// update is checked but one that only changes what the garbage collector
// writes: a label alone can feed a role into an aggregated one. Dropping
// an aggregation rule needs full rights as setting one does.
func (s *RoleStrategy) AdmitUpdate(ctx context.Context, obj, old runtime.Object) error {
	if s.Guard == nil || onlyGCFields(obj, old) {
		return nil
	}
	m, rules, agg := roleParts(obj)
	_, _, oldAgg := roleParts(old)
	return s.Guard.AdmitRole(ctx, s.res, m.Namespace, m.Name, rules, agg != nil || oldAgg != nil)
}

// onlyGCFields is IsOnlyMutatingGCFields: obj differs from old in owner
// references and finalizers at most (and in what the store sets).
func onlyGCFields(obj, old runtime.Object) bool {
	a, err := meta.Accessor(obj)
	if err != nil {
		return false
	}
	cp := old.DeepCopyObject()
	c, _ := meta.Accessor(cp)
	c.SetOwnerReferences(a.GetOwnerReferences())
	c.SetFinalizers(a.GetFinalizers())
	c.SetResourceVersion(a.GetResourceVersion())
	c.SetManagedFields(a.GetManagedFields())
	c.SetGeneration(a.GetGeneration())
	return apiequality.Semantic.DeepEqual(obj, cp)
}

// PrepareForCreate does nothing: roles have no status.
func (s *RoleStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {}

// PrepareForUpdate does nothing.
func (s *RoleStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {}

// Validate is ValidateRole / ValidateClusterRole.
func (s *RoleStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	m, rules, agg := roleParts(obj)
	errs := apimachineryvalidation.ValidateObjectMeta(m, !s.Cluster, validateName, field.NewPath("metadata"))
	for i, rule := range rules {
		errs = append(errs, validatePolicyRule(rule, !s.Cluster, field.NewPath("rules").Index(i))...)
	}
	if agg != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(agg.ClusterRoleSelectors) == 0 {
			errs = append(errs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range agg.ClusterRoleSelectors {
			errs = append(errs, metav1validation.ValidateLabelSelector(&agg.ClusterRoleSelectors[i], metav1validation.LabelSelectorValidationOptions{}, p.Index(i))...)
		}
	}
	return errs
}

// ValidateUpdate validates the new object.
func (s *RoleStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return s.Validate(ctx, obj)
}

// SelectableFields are metadata.name and metadata.namespace.
func (s *RoleStrategy) SelectableFields(obj runtime.Object) fields.Set {
	m, _, _ := roleParts(obj)
	return fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
}

// validatePolicyRule is upstream's ValidatePolicyRule.
func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(rule.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

func bindingParts(obj runtime.Object) (*metav1.ObjectMeta, *rbacv1.RoleRef, []rbacv1.Subject) {
	switch b := obj.(type) {
	case *rbacv1.RoleBinding:
		return &b.ObjectMeta, &b.RoleRef, b.Subjects
	case *rbacv1.ClusterRoleBinding:
		return &b.ObjectMeta, &b.RoleRef, b.Subjects
	}
	return nil, nil, nil
}

// defaultBinding is SetDefaults_*RoleBinding and SetDefaults_Subject.
func defaultBinding(obj runtime.Object) {
	_, ref, subjects := bindingParts(obj)
	if ref.APIGroup == "" {
		ref.APIGroup = rbacv1.GroupName
	}
	for i := range subjects {
		if subjects[i].APIGroup == "" && (subjects[i].Kind == rbacv1.UserKind || subjects[i].Kind == rbacv1.GroupKind) {
			subjects[i].APIGroup = rbacv1.GroupName
		}
	}
}

// AdmitCreate defaults the binding (so that the role reference checked is
// the one stored) and prevents escalation.
func (s *BindingStrategy) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	defaultBinding(obj)
	if s.Guard == nil {
		return nil
	}
	m, ref, _ := bindingParts(obj)
	return s.Guard.AdmitBinding(ctx, s.res, m.Namespace, m.Name, *ref)
}

// AdmitUpdate prevents escalation through any update but one of the
// garbage collector's fields (the roleRef itself is immutable).
func (s *BindingStrategy) AdmitUpdate(ctx context.Context, obj, old runtime.Object) error {
	defaultBinding(obj)
	if s.Guard == nil || onlyGCFields(obj, old) {
		return nil
	}
	m, ref, _ := bindingParts(obj)
	return s.Guard.AdmitBinding(ctx, s.res, m.Namespace, m.Name, *ref)
}

// PrepareForCreate defaults the binding.
func (s *BindingStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	defaultBinding(obj)
}

// PrepareForUpdate defaults the binding.
func (s *BindingStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	defaultBinding(obj)
}

// Validate is ValidateRoleBinding / ValidateClusterRoleBinding.
func (s *BindingStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	m, ref, subjects := bindingParts(obj)
	errs := apimachineryvalidation.ValidateObjectMeta(m, !s.Cluster, validateName, field.NewPath("metadata"))
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"Role", "ClusterRole"}
	if s.Cluster {
		kinds = []string{"ClusterRole"}
	}
	switch {
	case ref.Kind == "ClusterRole", ref.Kind == "Role" && !s.Cluster:
	default:
		errs = append(errs, field.NotSupported(refPath.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(refPath.Child("name"), ""))
	} else {
		for _, msg := range validateName(ref.Name, false) {
			errs = append(errs, field.Invalid(refPath.Child("name"), ref.Name, msg))
		}
	}
	for i, sub := range subjects {
		errs = append(errs, validateSubject(sub, !s.Cluster, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

// validateSubject is upstream's ValidateRoleBindingSubject.
func validateSubject(sub rbacv1.Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sub.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch sub.Kind {
	case rbacv1.ServiceAccountKind:
		if sub.Name != "" {
			for _, msg := range apimachineryvalidation.ValidateServiceAccountName(sub.Name, false) {
				errs = append(errs, field.Invalid(p.Child("name"), sub.Name, msg))
			}
		}
		if sub.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), sub.APIGroup, []string{""}))
		}
		if !namespaced && sub.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if sub.APIGroup != rbacv1.GroupName {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), sub.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), sub.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return errs
}

// ValidateUpdate keeps the roleRef: it is immutable.
func (s *BindingStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	errs := s.Validate(ctx, obj)
	_, ref, _ := bindingParts(obj)
	_, oldRef, _ := bindingParts(old)
	if *ref != *oldRef {
		errs = append(errs, field.Invalid(field.NewPath("roleRef"), *ref, "cannot change roleRef"))
	}
	return errs
}

// SelectableFields are metadata.name and metadata.namespace.
func (s *BindingStrategy) SelectableFields(obj runtime.Object) fields.Set {
	m, _, _ := bindingParts(obj)
	return fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
}
