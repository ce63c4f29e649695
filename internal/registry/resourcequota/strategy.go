// Package resourcequota holds the API behaviour of core/v1 ResourceQuotas
// (pkg/registry/core/resourcequota and ValidateResourceQuota in
// pkg/apis/core/validation): hard keys that name quota resources, counts
// that are whole numbers, scopes that fit the resources they limit, and a
// status only the status subresource writes.
package resourcequota

import (
	"context"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for resource quotas.
type Strategy struct{}

// Resource returns the resourcequotas resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "resourcequotas", SingularName: "resourcequota", Kind: "ResourceQuota", ShortNames: []string{"quota"},
		Namespaced: true, HasStatus: true,
		New:      func() runtime.Object { return &corev1.ResourceQuota{} },
		NewList:  func() runtime.Object { return &corev1.ResourceQuotaList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate clears the status: the quota controller fills it.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = corev1.ResourceQuotaStatus{}
}

// PrepareForUpdate keeps the stored status.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.ResourceQuota).Status = old.(*corev1.ResourceQuota).Status
}

// PrepareForStatusUpdate keeps the stored spec.
func (Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.ResourceQuota).Spec = old.(*corev1.ResourceQuota).Spec
}

// Validate checks a new quota.
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	q := obj.(*corev1.ResourceQuota)
	errs := apimachineryvalidation.ValidateObjectMeta(&q.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&q.Spec, field.NewPath("spec"))...)
	return errs
}

// ValidateUpdate checks an update: the scopes may not change.
func (Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	q, prev := obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&q.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateSpec(&q.Spec, field.NewPath("spec"))...)
	if !sets.New(q.Spec.Scopes...).Equal(sets.New(prev.Spec.Scopes...)) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "scopes"), q.Spec.Scopes, apimachineryvalidation.FieldImmutableErrorMsg))
	}
	return errs
}

// ValidateStatusUpdate checks the status' keys and quantities.
func (Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	q, prev := obj.(*corev1.ResourceQuota), old.(*corev1.ResourceQuota)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&q.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, validateList(q.Status.Hard, field.NewPath("status", "hard"))...)
	errs = append(errs, validateList(q.Status.Used, field.NewPath("status", "used"))...)
	return errs
}

// SelectableFields are the metadata fields.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	q := obj.(*corev1.ResourceQuota)
	return fields.Set{"metadata.name": q.Name, "metadata.namespace": q.Namespace}
}

// standardResources are standard resource names (IsStandardResourceName).
var standardResources = sets.New("cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers",
	"secrets", "configmaps", "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports", "services.loadbalancers")

// integerResources are counted in whole numbers.
var integerResources = sets.New("pods", "resourcequotas", "services", "replicationcontrollers", "secrets", "configmaps",
	"persistentvolumeclaims", "services.nodeports", "services.loadbalancers")

// scopeResources are the standard resources each scope may limit.
var (
	podComputeResources = sets.New("pods", "cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
	scopeResources      = map[corev1.ResourceQuotaScope]sets.Set[string]{
		corev1.ResourceQuotaScopeTerminating:               podComputeResources,
		corev1.ResourceQuotaScopeNotTerminating:            podComputeResources,
		corev1.ResourceQuotaScopeNotBestEffort:             podComputeResources,
		corev1.ResourceQuotaScopePriorityClass:             podComputeResources,
		corev1.ResourceQuotaScopeCrossNamespacePodAffinity: podComputeResources,
		corev1.ResourceQuotaScopeBestEffort:                sets.New("pods"),
		corev1.ResourceQuotaScopeVolumeAttributesClass:     sets.New("persistentvolumeclaims", "requests.storage"),
	}
	existsOnlyScopes = sets.New(corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
		corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopeCrossNamespacePodAffinity)
)

func isStandardResource(name string) bool {
	return standardResources.Has(name) || strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) || strings.HasPrefix(name, "requests."+corev1.ResourceHugePagesPrefix)
}

func isStandardQuotaResource(name string) bool { return name != "storage" && isStandardResource(name) }

// isExtendedResource: a qualified name outside kubernetes.io, not a
// request.
func isExtendedResource(name string) bool {
	if !strings.Contains(name, "/") || strings.Contains(name, "kubernetes.io/") || strings.HasPrefix(name, "requests.") {
		return false
	}
	return len(validation.IsQualifiedName("requests."+name)) == 0
}

// validateResourceName is ValidateResourceQuotaResourceName.
func validateResourceName(name string, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	if len(errs) > 0 || strings.Contains(name, "/") {
		return errs
	}
	if !isStandardResource(name) {
		errs = append(errs, field.Invalid(path, name, "must be a standard resource type or fully qualified"))
	}
	if !isStandardQuotaResource(name) {
		errs = append(errs, field.Invalid(path, name, "must be a standard resource for quota"))
	}
	return errs
}

// validateList checks a list of quota resources and their quantities.
func validateList(list corev1.ResourceList, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for name, q := range list {
		p := path.Key(string(name))
		errs = append(errs, validateResourceName(string(name), p)...)
		if q.Sign() < 0 {
			errs = append(errs, field.Invalid(p, q.String(), "must be greater than or equal to 0"))
		}
		integer := integerResources.Has(string(name)) || isExtendedResource(string(name)) || strings.HasPrefix(string(name), "count/")
		if integer && q.MilliValue()%1000 != 0 {
			errs = append(errs, field.Invalid(p, q.String(), "must be an integer"))
		}
	}
	return errs
}

// validateSpec is validateResourceQuotaSpec.
func validateSpec(spec *corev1.ResourceQuotaSpec, path *field.Path) field.ErrorList {
	errs := validateList(spec.Hard, path.Child("hard"))
	scopesPath := path.Child("scopes")
	scopes := sets.New[corev1.ResourceQuotaScope]()
	for _, s := range spec.Scopes {
		if _, ok := scopeResources[s]; !ok {
			errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope"))
			continue
		}
		for name := range spec.Hard {
			if isStandardQuotaResource(string(name)) && !scopeResources[s].Has(string(name)) {
				errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "unsupported scope applied to resource"))
			}
		}
		scopes.Insert(s)
	}
	if conflicting(scopes) {
		errs = append(errs, field.Invalid(scopesPath, spec.Scopes, "conflicting scopes"))
	}
	if spec.ScopeSelector == nil {
		return errs
	}
	exprPath := path.Child("scopeSelector", "matchExpressions")
	selected := sets.New[corev1.ResourceQuotaScope]()
	for _, e := range spec.ScopeSelector.MatchExpressions {
		if _, ok := scopeResources[e.ScopeName]; !ok {
			errs = append(errs, field.Invalid(exprPath.Child("scopeName"), e.ScopeName, "unsupported scope"))
			continue
		}
		for name := range spec.Hard {
			if isStandardQuotaResource(string(name)) && !scopeResources[e.ScopeName].Has(string(name)) {
				errs = append(errs, field.Invalid(exprPath, spec.ScopeSelector, "unsupported scope applied to resource"))
			}
		}
		switch e.Operator {
		case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
			if len(e.Values) == 0 {
				errs = append(errs, field.Required(exprPath.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
			}
		case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
			if len(e.Values) != 0 {
				errs = append(errs, field.Invalid(exprPath.Child("values"), e.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
			}
		default:
			errs = append(errs, field.Invalid(exprPath.Child("operator"), e.Operator, "not a valid selector operator"))
		}
		if existsOnlyScopes.Has(e.ScopeName) && e.Operator != corev1.ScopeSelectorOpExists {
			errs = append(errs, field.Invalid(exprPath.Child("operator"), e.Operator,
				"must be 'Exists' when scope is any of ResourceQuotaScopeTerminating, ResourceQuotaScopeNotTerminating, ResourceQuotaScopeBestEffort, ResourceQuotaScopeNotBestEffort or ResourceQuotaScopeCrossNamespacePodAffinity"))
		}
		selected.Insert(e.ScopeName)
	}
	if conflicting(selected) {
		errs = append(errs, field.Invalid(exprPath, spec.Scopes, "conflicting scopes"))
	}
	return errs
}

func conflicting(s sets.Set[corev1.ResourceQuotaScope]) bool {
	return (s.Has(corev1.ResourceQuotaScopeBestEffort) && s.Has(corev1.ResourceQuotaScopeNotBestEffort)) ||
		(s.Has(corev1.ResourceQuotaScopeTerminating) && s.Has(corev1.ResourceQuotaScopeNotTerminating))
}
