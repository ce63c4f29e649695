// Package registry turns the raw object store into Kubernetes REST semantics:
// system metadata, defaulting, validation, admission (namespace lifecycle),
// optimistic concurrency, graceful deletion, selectors and watches. It is the
// counterpart of k8s.io/apiserver's generic registry plus the per-resource
// strategies of pkg/registry; the HTTP layer (package apiserver) only decodes,
// negotiates and encodes around it.
package registry

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource describes one REST resource: of the core group ("" and "v1",
// under /api/v1) unless Group says otherwise (under /apis/<group>/<version>).
type Resource struct {
	// Group and Version name the API group version ("" and "": core/v1).
	Group, Version string
	Name           string // plural, e.g. "pods"
	SingularName   string
	Kind           string
	ShortNames     []string
	Categories     []string
	Namespaced     bool
	// ReturnDeletedObject: DELETE answers with the object instead of a
	// Success Status (true for pods and namespaces upstream).
	ReturnDeletedObject bool
	// HasStatus: the resource has a status subresource whose writes only
	// change status, while main-resource writes keep the stored status.
	HasStatus bool
	// HasApproval: the resource has an approval subresource
	// (CertificateSigningRequests) whose writes only change the approval
	// conditions; its strategy is an ApprovalStrategy.
	HasApproval bool

	// Scale, when set, gives the resource a scale subresource
	// (autoscaling/v1 Scale).
	Scale *ScaleAccess
	// DefaultPropagation is the deletion propagation a DELETE that names
	// none gets (DefaultGarbageCollectionPolicy upstream): "" is
	// Background.
	DefaultPropagation metav1.DeletionPropagation
	// DefaultPropagationWarning is the warning a DELETE that names no
	// propagation gets (batch/v1 Jobs: their pods stay).
	DefaultPropagationWarning string

	New     func() runtime.Object
	NewList func() runtime.Object

	Strategy Strategy
}

// GroupResource returns the group resource, for error messages.
func (r *Resource) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.Group, Resource: r.Name}
}

// GroupKind returns the group kind, for Invalid errors.
func (r *Resource) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: r.Group, Kind: r.Kind}
}

// GroupVersion is the resource's API group version.
func (r *Resource) GroupVersion() schema.GroupVersion {
	if r.Group == "" && r.Version == "" {
		return schema.GroupVersion{Version: "v1"}
	}
	return schema.GroupVersion{Group: r.Group, Version: r.Version}
}

// Key names the resource among all groups' resources: its name in the core
// group, <name>.<group> in the others (as kubectl spells a resource).
func (r *Resource) Key() string {
	if r.Group == "" {
		return r.Name
	}
	return r.Name + "." + r.Group
}

// Strategy is the per-resource behaviour, as in pkg/registry/core/<r>/strategy.go.
type Strategy interface {
	// PrepareForCreate normalises a new object: defaults, cleared status...
	PrepareForCreate(ctx context.Context, obj runtime.Object)
	// Validate checks a new object.
	Validate(ctx context.Context, obj runtime.Object) field.ErrorList
	// PrepareForUpdate normalises obj given the stored old object.
	PrepareForUpdate(ctx context.Context, obj, old runtime.Object)
	// ValidateUpdate checks an update.
	ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
	// SelectableFields returns the fields usable in field selectors.
	SelectableFields(obj runtime.Object) fields.Set
}

// StatusStrategy is implemented by strategies of resources with a status
// subresource.
type StatusStrategy interface {
	PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object)
	ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// GracefulDeleteStrategy is implemented by resources whose DELETE may only
// mark the object (pods). It returns the grace period to use; 0 deletes now.
type GracefulDeleteStrategy interface {
	GracePeriod(ctx context.Context, obj runtime.Object, opts *metav1.DeleteOptions) int64
}

// WarningStrategy is implemented by strategies that warn about accepted but
// dubious objects (for example pod names that are not DNS labels).
type WarningStrategy interface {
	WarningsOnCreate(ctx context.Context, obj runtime.Object) []string
}

// CreateHook runs after an object was stored by Create (for example the
// built-in scheduler's Scheduled event).
type CreateHook interface {
	AfterCreate(ctx context.Context, obj runtime.Object)
}

// CanonicalizeStrategy is implemented by strategies that normalise an object
// once its name is final (after generateName), on create and update.
type CanonicalizeStrategy interface {
	Canonicalize(obj runtime.Object)
}

// FinalizingDeleteStrategy is implemented by resources whose own finalizers
// (not metadata.finalizers) hold a deleted object until they are removed:
// namespaces and their spec.finalizers. MarkDeleting changes obj for the
// first DELETE (status.phase Terminating) and reports whether removal must
// wait; Finalized reports whether a marked object may now go.
type FinalizingDeleteStrategy interface {
	MarkDeleting(obj runtime.Object) (wait bool)
	Finalized(obj runtime.Object) bool
}

// EphemeralContainersStrategy is implemented by resources with an
// ephemeralcontainers subresource (pods): such writes keep everything but
// spec.ephemeralContainers.
type EphemeralContainersStrategy interface {
	PrepareForEphemeralContainersUpdate(ctx context.Context, obj, old runtime.Object)
	ValidateEphemeralContainersUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// ApprovalStrategy is implemented by resources with an approval
// subresource (CertificateSigningRequests): such writes keep everything but
// the approval conditions.
type ApprovalStrategy interface {
	PrepareForApproval(ctx context.Context, obj, old runtime.Object)
	ValidateApproval(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// ResizeStrategy is implemented by resources with a resize subresource
// (pods): such writes keep everything but the containers' resources.
type ResizeStrategy interface {
	PrepareForResize(ctx context.Context, obj, old runtime.Object)
	ValidateResize(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// FinalizeStrategy is implemented by resources with a finalize subresource
// (namespaces): such writes keep everything but the finalizers, which
// ValidateFinalize checks.
type FinalizeStrategy interface {
	PrepareForFinalize(ctx context.Context, obj, old runtime.Object)
	ValidateFinalize(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// DeleteStrategy is implemented by resources that refuse or change DELETE
// (immortal namespaces).
type DeleteStrategy interface {
	BeforeDelete(ctx context.Context, obj runtime.Object) error
}

// BindingStrategy is implemented by resources with a binding subresource
// (pods): obj carries the node in spec.nodeName; everything else comes from
// old.
type BindingStrategy interface {
	PrepareForBinding(ctx context.Context, obj, old runtime.Object) field.ErrorList
}

// DefaultStrategy is implemented by resources whose API defaulting must be
// seen by admission (a pod's requests copied from its limits, before
// LimitRanger fills what is missing): kube-apiserver defaults an object as
// it decodes it, so Default runs first on a create, before AdmitCreate and
// the admission plugins. PrepareForCreate may default the rest later.
type DefaultStrategy interface {
	Default(obj runtime.Object)
}

// AdmitStrategy is implemented by resources with mutating admission on
// create (the ServiceAccount plugin for pods): it runs before
// PrepareForCreate, and an error refuses the request as it is.
type AdmitStrategy interface {
	AdmitCreate(ctx context.Context, obj runtime.Object) error
}

// AdmitUpdateStrategy is implemented by resources whose updates are
// admitted by who asks (RBAC escalation prevention): it runs once the
// update is prepared and changes something, and an error refuses it as it
// is.
type AdmitUpdateStrategy interface {
	AdmitUpdate(ctx context.Context, obj, old runtime.Object) error
}

// AdmissionPlugin is an admission plugin that looks at creates of more than
// one resource (LimitRanger, ResourceQuota), as kube-apiserver's admission
// chain: Mutate runs before the strategy prepares the object (so defaults
// it sets count, e.g. for a pod's QoS class), Validate after the object is
// valid and just before it is stored; the release Validate returns is
// called once the object is stored or refused (stored says which), so a
// plugin may hold a decision, such as quota usage, until it is final.
type AdmissionPlugin interface {
	Mutate(ctx context.Context, res *Resource, ns string, obj runtime.Object) error
	Validate(ctx context.Context, res *Resource, ns string, obj runtime.Object) (release func(stored bool), err error)
}

// UpdateAdmissionPlugin is an AdmissionPlugin that also admits the
// updates that may change what an object charges (of the object itself,
// and the pods/resize subresource; not status), as kube-apiserver's quota
// admission does for UPDATE: the release is called once the update is
// stored or refused. It runs once the update changes something.
type UpdateAdmissionPlugin interface {
	ValidateUpdate(ctx context.Context, res *Resource, ns string, obj, old runtime.Object) (release func(stored bool), err error)
}

// EveryUpdateAdmissionPlugin is an AdmissionPlugin that validates every
// update of the resources it is attached to, of the object and of each
// subresource (subresource names it: "status", "scale"...; "" for the
// object), as a validating plugin of kube-apiserver sees each UPDATE
// (PodSecurity). It runs after the strategy validated the update, before
// the unchanged-object check, and again when the update is retried.
type EveryUpdateAdmissionPlugin interface {
	ValidateEveryUpdate(ctx context.Context, res *Resource, ns, subresource string, obj, old runtime.Object) error
}

// CreateGuard is implemented by strategies whose create decisions must not
// interleave (pod scheduling): the returned function is called once the
// object is committed or refused.
type CreateGuard interface {
	GuardCreate() (release func())
}

// ScaleAccess reads and writes the replica count of a scalable resource.
type ScaleAccess struct {
	// Get returns spec.replicas, status.replicas and the selector, as a
	// label selector string.
	Get func(obj runtime.Object) (spec, status int32, selector string)
	// Set sets spec.replicas.
	Set func(obj runtime.Object, replicas int32)
}
