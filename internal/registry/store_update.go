package registry

import (
	"context"
	"errors"
	"fmt"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/storage"
)

// UpdateFunc computes the new object from the stored one (read-only). It
// runs without any lock held and again on the newer object whenever another
// write got in first (optimistic concurrency, as GuaranteedUpdate), so
// there is no lost update; it must have no side effects.
type UpdateFunc func(old runtime.Object) (runtime.Object, error)

// UpdateOptions select how an update is applied.
type UpdateOptions struct {
	// Status: write the status subresource (only status changes).
	Status bool
	// Finalize: write the finalize subresource (only spec.finalizers of
	// namespaces change).
	Finalize bool
	// EphemeralContainers: write the ephemeralcontainers subresource of
	// pods (only spec.ephemeralContainers changes).
	EphemeralContainers bool
	// Resize: write the resize subresource of pods (only the
	// containers' resources change); update admission plugins (quota)
	// admit it, as they admit updates of the object itself (a claim's
	// expansion).
	Resize bool
	// Binding: bind a pod to the node in the new object's spec.nodeName,
	// as the pods/binding subresource does.
	Binding bool
	// Scale: the write comes through the scale subresource (it changes
	// spec.replicas only); admission sees it as that subresource.
	Scale bool
	// Approval: write the approval subresource of
	// CertificateSigningRequests (only the Approved and Denied
	// conditions change).
	Approval bool
	DryRun   bool
}

// subresource names the subresource the update writes, "" for the object.
func (o UpdateOptions) subresource() string {
	switch {
	case o.Status:
		return "status"
	case o.Finalize:
		return "finalize"
	case o.EphemeralContainers:
		return "ephemeralcontainers"
	case o.Resize:
		return "resize"
	case o.Binding:
		return "binding"
	case o.Scale:
		return "scale"
	case o.Approval:
		return "approval"
	}
	return ""
}

var errDryRun = errors.New("dry run")

// Update replaces the object ns/name with what fn returns after the
// strategy's PrepareForUpdate and ValidateUpdate. A resourceVersion in the new
// object is a precondition (409 Conflict when stale).
func (s *Store) Update(ctx context.Context, ns, name string, fn UpdateFunc, opts UpdateOptions) (runtime.Object, error) {
	var dry runtime.Object
	// Releases of the update admission of the attempt that is stored;
	// an attempt that lost to a concurrent write releases its own.
	var releases []func(bool)
	release := func(stored bool) {
		for _, r := range releases {
			r(stored)
		}
		releases = nil
	}
	defer func() { release(false) }()
	out, err := s.storage.Update(s.key(ns, name), func(cur runtime.Object) (runtime.Object, error) {
		dry = nil
		release(false)
		obj, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if err := s.prepareUpdate(ctx, ns, name, obj, cur, opts); err != nil {
			return nil, err
		}
		if err := s.validateEveryUpdate(ctx, ns, obj, cur, opts); err != nil {
			return nil, err
		}
		if semanticallyEqual(obj, cur) {
			return nil, storage.ErrNoChange
		}
		if a, ok := s.res.Strategy.(AdmitUpdateStrategy); ok {
			if err := a.AdmitUpdate(ctx, obj, cur); err != nil {
				return nil, err
			}
		}
		if opts.Resize || opts.subresource() == "" {
			if err := s.admitUpdate(ctx, ns, obj, cur, &releases); err != nil {
				return nil, err
			}
		}
		if opts.DryRun {
			dry = obj
			return nil, errDryRun
		}
		return obj, nil
	})
	if err == nil {
		release(true)
	}
	switch {
	case errors.Is(err, errDryRun):
		return dry, nil
	case errors.Is(err, storage.ErrNotFound):
		return nil, apierrors.NewNotFound(s.res.GroupResource(), name)
	case err != nil:
		return nil, err
	}
	// An object whose deletion only waited for its finalizers goes away
	// once the last one is removed (deleteWithoutFinalizers upstream).
	if s.releasable(out) {
		gone, derr := s.storage.Delete(s.key(ns, name), func(cur runtime.Object) error {
			if !s.releasable(cur) {
				return storage.ErrNoChange // changed meanwhile: keep it
			}
			return nil
		})
		if derr == nil {
			return gone, nil
		}
	}
	return out, nil
}

// admitUpdate runs the update admission plugins on an update of the
// object itself or a resize, adding
// their releases to releases.
func (s *Store) admitUpdate(ctx context.Context, ns string, obj, cur runtime.Object, releases *[]func(bool)) error {
	for _, p := range s.admission {
		up, ok := p.(UpdateAdmissionPlugin)
		if !ok {
			continue
		}
		r, err := up.ValidateUpdate(ctx, s.res, ns, obj, cur)
		if err != nil {
			return err
		}
		if r != nil {
			*releases = append(*releases, r)
		}
	}
	return nil
}

// validateEveryUpdate runs the plugins that see every update.
func (s *Store) validateEveryUpdate(ctx context.Context, ns string, obj, cur runtime.Object, opts UpdateOptions) error {
	for _, p := range s.admission {
		if ep, ok := p.(EveryUpdateAdmissionPlugin); ok {
			if err := ep.ValidateEveryUpdate(ctx, s.res, ns, opts.subresource(), obj, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) prepareUpdate(ctx context.Context, ns, name string, obj, cur runtime.Object, opts UpdateOptions) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	old, _ := meta.Accessor(cur)
	if m.GetName() == "" {
		m.SetName(name)
	}
	if m.GetName() != name {
		return apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), name))
	}
	if err := s.checkNamespace(m, ns); err != nil {
		return err
	}
	if rv := m.GetResourceVersion(); rv != "" && rv != old.GetResourceVersion() {
		return apierrors.NewConflict(s.res.GroupResource(), name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if m.GetUID() == "" {
		m.SetUID(old.GetUID())
	}
	// System fields are the server's: keep the stored values.
	m.SetCreationTimestamp(old.GetCreationTimestamp())
	m.SetDeletionTimestamp(old.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(old.GetDeletionGracePeriodSeconds())
	m.SetGeneration(old.GetGeneration())
	m.SetResourceVersion(old.GetResourceVersion())

	var errs field.ErrorList
	if opts.Binding {
		bs, ok := s.res.Strategy.(BindingStrategy)
		if !ok {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/binding")
		}
		errs = bs.PrepareForBinding(ctx, obj, cur)
	} else if opts.Finalize {
		fs, ok := s.res.Strategy.(FinalizeStrategy)
		if !ok {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/finalize")
		}
		fs.PrepareForFinalize(ctx, obj, cur)
		errs = fs.ValidateFinalize(ctx, obj, cur)
	} else if opts.EphemeralContainers {
		es, ok := s.res.Strategy.(EphemeralContainersStrategy)
		if !ok {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/ephemeralcontainers")
		}
		es.PrepareForEphemeralContainersUpdate(ctx, obj, cur)
		errs = es.ValidateEphemeralContainersUpdate(ctx, obj, cur)
	} else if opts.Approval {
		as, ok := s.res.Strategy.(ApprovalStrategy)
		if !ok || !s.res.HasApproval {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/approval")
		}
		as.PrepareForApproval(ctx, obj, cur)
		errs = as.ValidateApproval(ctx, obj, cur)
	} else if opts.Resize {
		rs, ok := s.res.Strategy.(ResizeStrategy)
		if !ok {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/resize")
		}
		rs.PrepareForResize(ctx, obj, cur)
		errs = rs.ValidateResize(ctx, obj, cur)
	} else if opts.Status {
		ss, ok := s.res.Strategy.(StatusStrategy)
		if !ok {
			return apierrors.NewNotFound(s.res.GroupResource(), name+"/status")
		}
		ss.PrepareForStatusUpdate(ctx, obj, cur)
		errs = ss.ValidateStatusUpdate(ctx, obj, cur)
	} else {
		s.res.Strategy.PrepareForUpdate(ctx, obj, cur)
		if c, ok := s.res.Strategy.(CanonicalizeStrategy); ok {
			c.Canonicalize(obj)
		}
		errs = apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, old, field.NewPath("metadata"))
		errs = append(errs, s.res.Strategy.ValidateUpdate(ctx, obj, cur)...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(s.res.GroupKind(), name, errs)
	}
	return nil
}

// releasable reports whether a marked object has nothing left holding it:
// deletion requested with no grace left and no finalizers.
func (s *Store) releasable(obj runtime.Object) bool {
	m, err := meta.Accessor(obj)
	if err != nil || m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 ||
		m.GetDeletionGracePeriodSeconds() == nil || *m.GetDeletionGracePeriodSeconds() != 0 {
		return false
	}
	if fs, ok := s.res.Strategy.(FinalizingDeleteStrategy); ok {
		return fs.Finalized(obj)
	}
	return true
}

// semanticallyEqual compares two objects ignoring resourceVersion, so a no-op
// write does not produce a new revision (as etcd3's GuaranteedUpdate).
func semanticallyEqual(a, b runtime.Object) bool {
	ma, _ := meta.Accessor(a)
	mb, _ := meta.Accessor(b)
	if ma == nil || mb == nil {
		return false
	}
	rv := ma.GetResourceVersion()
	ma.SetResourceVersion(mb.GetResourceVersion())
	eq := apiequality.Semantic.DeepEqual(a, b)
	ma.SetResourceVersion(rv)
	return eq
}

// Preconditions of a DELETE.
func checkPreconditions(res *Resource, name string, p *metav1.Preconditions, cur runtime.Object) error {
	if p == nil {
		return nil
	}
	m, _ := meta.Accessor(cur)
	if p.UID != nil && *p.UID != m.GetUID() {
		return apierrors.NewConflict(res.GroupResource(), name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.GetUID()))
	}
	if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
		return apierrors.NewConflict(res.GroupResource(), name,
			fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.GetResourceVersion()))
	}
	return nil
}
