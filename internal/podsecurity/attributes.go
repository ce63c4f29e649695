package podsecurity

import (
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/peapod/peapod/internal/registry"
)

// attributes describes a request to the library as kube-apiserver's
// admission attributes would: the object's name (generated names are
// final by then), the namespace (a namespace's own name for namespaces,
// as the request info has it), resource and kind. No user is named: the
// configuration exempts none.
func attributes(res *registry.Resource, ns, subresource string, op admissionv1.Operation, obj, old runtime.Object) *psapi.AttributesRecord {
	var name string
	if m, err := meta.Accessor(obj); err == nil {
		name = m.GetName()
	}
	if res.GroupResource().String() == "namespaces" {
		ns = name
	}
	gv := res.GroupVersion()
	return &psapi.AttributesRecord{
		Name:        name,
		Namespace:   ns,
		Kind:        gv.WithKind(res.Kind),
		Resource:    gv.WithResource(res.Name),
		Subresource: subresource,
		Operation:   op,
		Object:      obj,
		OldObject:   old,
	}
}
