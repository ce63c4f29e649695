// Package limitrange holds the API behaviour of core/v1 LimitRanges
// (pkg/registry/core/limitrange, SetDefaults_LimitRangeItem and
// ValidateLimitRange): Container items get their defaults from max and min,
// and every item's min, default request, default and max must be in that
// order.
package limitrange

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for limit ranges.
type Strategy struct{}

// Resource returns the limitranges resource.
func Resource() *registry.Resource {
	return &registry.Resource{
		Name: "limitranges", SingularName: "limitrange", Kind: "LimitRange", ShortNames: []string{"limits"}, Namespaced: true,
		New:      func() runtime.Object { return &corev1.LimitRange{} },
		NewList:  func() runtime.Object { return &corev1.LimitRangeList{} },
		Strategy: Strategy{},
	}
}

// PrepareForCreate defaults the items and, as upstream, names a limit
// range that has no name with a random UUID.
func (Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	lr := obj.(*corev1.LimitRange)
	if lr.Name == "" && lr.GenerateName == "" {
		lr.Name = string(uuid.NewUUID())
	}
	SetDefaults(lr)
}

// PrepareForUpdate defaults the items.
func (Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	SetDefaults(obj.(*corev1.LimitRange))
}

// SetDefaults is SetDefaults_LimitRangeItem for every Container item: a
// missing default is the max, a missing default request the default, else
// the min.
func SetDefaults(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		if item.Default == nil {
			item.Default = corev1.ResourceList{}
		}
		if item.DefaultRequest == nil {
			item.DefaultRequest = corev1.ResourceList{}
		}
		for name, q := range item.Max {
			if _, ok := item.Default[name]; !ok {
				item.Default[name] = q.DeepCopy()
			}
		}
		for name, q := range item.Default {
			if _, ok := item.DefaultRequest[name]; !ok {
				item.DefaultRequest[name] = q.DeepCopy()
			}
		}
		for name, q := range item.Min {
			if _, ok := item.DefaultRequest[name]; !ok {
				item.DefaultRequest[name] = q.DeepCopy()
			}
		}
	}
}

// Validate checks a limit range (ValidateLimitRange).
func (Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	lr := obj.(*corev1.LimitRange)
	errs := apimachineryvalidation.ValidateObjectMeta(&lr.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(errs, validateSpec(&lr.Spec, field.NewPath("spec", "limits"))...)
}

// ValidateUpdate checks an update as a new object.
func (s Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	lr, prev := obj.(*corev1.LimitRange), old.(*corev1.LimitRange)
	errs := apimachineryvalidation.ValidateObjectMetaUpdate(&lr.ObjectMeta, &prev.ObjectMeta, field.NewPath("metadata"))
	return append(errs, validateSpec(&lr.Spec, field.NewPath("spec", "limits"))...)
}

// SelectableFields are the metadata fields.
func (Strategy) SelectableFields(obj runtime.Object) fields.Set {
	lr := obj.(*corev1.LimitRange)
	return fields.Set{"metadata.name": lr.Name, "metadata.namespace": lr.Namespace}
}

var (
	standardLimitTypes = sets.New(string(corev1.LimitTypePod), string(corev1.LimitTypeContainer), string(corev1.LimitTypePersistentVolumeClaim))
	standardResources  = sets.New("cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "requests.ephemeral-storage",
		"limits.cpu", "limits.memory", "limits.ephemeral-storage", "pods", "resourcequotas", "services", "replicationcontrollers",
		"secrets", "configmaps", "persistentvolumeclaims", "storage", "requests.storage", "services.nodeports", "services.loadbalancers")
	containerResources = sets.New("cpu", "memory", "ephemeral-storage")
)

func isHugePages(name string) bool { return strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) }

// isNative: no domain, or the kubernetes.io one.
func isNative(name string) bool {
	return !strings.Contains(name, "/") || strings.Contains(name, "kubernetes.io/")
}

func isExtended(name string) bool {
	if isNative(name) || strings.HasPrefix(name, "requests.") {
		return false
	}
	return len(validation.IsQualifiedName("requests."+name)) == 0
}

// validateResourceName checks a resource named in an item.
func validateResourceName(name string, podOrContainer bool, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsQualifiedName(name) {
		errs = append(errs, field.Invalid(path, name, msg))
	}
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(name, "/") && !standardResources.Has(name) && !isHugePages(name) && !strings.HasPrefix(name, "requests."+corev1.ResourceHugePagesPrefix) {
		errs = append(errs, field.Invalid(path, name, "must be a standard resource type or fully qualified"))
		return errs
	}
	if !podOrContainer {
		return errs
	}
	switch {
	case !strings.Contains(name, "/"):
		if !containerResources.Has(name) && !isHugePages(name) {
			errs = append(errs, field.Invalid(path, name, "must be a standard resource for containers"))
		}
	case !isNative(name) && !isExtended(name):
		errs = append(errs, field.Invalid(path, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

// overcommittable: resources whose limit may exceed the request.
func overcommittable(name string) bool { return !isHugePages(name) && isNative(name) }

func validateSpec(spec *corev1.LimitRangeSpec, path *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i := range spec.Limits {
		item := &spec.Limits[i]
		ip := path.Index(i)
		typ := string(item.Type)
		for _, msg := range validation.IsQualifiedName(typ) {
			errs = append(errs, field.Invalid(ip.Child("type"), typ, msg))
		}
		if !strings.Contains(typ, "/") && !standardLimitTypes.Has(typ) {
			errs = append(errs, field.Invalid(ip.Child("type"), typ, "must be a standard limit type or fully qualified"))
		}
		if seen.Has(typ) {
			errs = append(errs, field.Duplicate(ip.Child("type"), item.Type))
		}
		seen.Insert(typ)
		podOrContainer := item.Type == corev1.LimitTypePod || item.Type == corev1.LimitTypeContainer
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for name := range l.list {
				errs = append(errs, validateResourceName(string(name), podOrContainer, ip.Child(l.name).Key(string(name)))...)
			}
		}
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				errs = append(errs, field.Forbidden(ip.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		if item.Type == corev1.LimitTypePersistentVolumeClaim {
			_, hasMin := item.Min[corev1.ResourceStorage]
			_, hasMax := item.Max[corev1.ResourceStorage]
			if !hasMin && !hasMax {
				errs = append(errs, field.Required(ip.Child("limits"), "either minimum or maximum storage value is required, but neither was provided"))
			}
		}
		errs = append(errs, validateOrder(item, ip)...)
	}
	return errs
}

// validateOrder checks min ≤ default request ≤ default ≤ max and the
// ratio, per resource.
func validateOrder(item *corev1.LimitRangeItem, ip *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := sets.New[corev1.ResourceName]()
	for _, l := range []corev1.ResourceList{item.Max, item.Min, item.Default, item.DefaultRequest, item.MaxLimitRequestRatio} {
		for n := range l {
			names.Insert(n)
		}
	}
	for _, name := range sets.List(names) {
		k := string(name)
		minQ, hasMin := item.Min[name]
		maxQ, hasMax := item.Max[name]
		def, hasDef := item.Default[name]
		dr, hasDR := item.DefaultRequest[name]
		ratio, hasRatio := item.MaxLimitRequestRatio[name]
		if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("min").Key(k), minQ, fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
		}
		if hasDR && hasMin && minQ.Cmp(dr) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(k), dr, fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), dr.String())))
		}
		if hasDR && hasMax && dr.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(k), dr, fmt.Sprintf("default request value %s is greater than max value %s", dr.String(), maxQ.String())))
		}
		if hasDR && hasDef && dr.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(k), dr, fmt.Sprintf("default request value %s is greater than default limit value %s", dr.String(), def.String())))
		}
		if hasDef && hasMin && minQ.Cmp(def) > 0 {
			errs = append(errs, field.Invalid(ip.Child("default").Key(k), minQ, fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), def.String())))
		}
		if hasDef && hasMax && def.Cmp(maxQ) > 0 {
			errs = append(errs, field.Invalid(ip.Child("default").Key(k), maxQ, fmt.Sprintf("default value %s is greater than max value %s", def.String(), maxQ.String())))
		}
		if hasRatio && ratio.Cmp(*resourceOne()) < 0 {
			errs = append(errs, field.Invalid(ip.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is less than 1", ratio.String())))
		}
		if hasRatio && hasMin && hasMax && minQ.MilliValue() > 0 {
			maxRatio := float64(maxQ.MilliValue()) / float64(minQ.MilliValue())
			if float64(ratio.MilliValue())/1000 > maxRatio {
				errs = append(errs, field.Invalid(ip.Child("maxLimitRequestRatio").Key(k), ratio, fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), maxRatio)))
			}
		}
		if !overcommittable(k) && hasDef && hasDR && def.Cmp(dr) != 0 {
			errs = append(errs, field.Invalid(ip.Child("defaultRequest").Key(k), dr, fmt.Sprintf("default value %s must equal to defaultRequest value %s in %s", def.String(), dr.String(), k)))
		}
	}
	return errs
}

func resourceOne() *resource.Quantity { q := resource.MustParse("1"); return &q }
