package registry

import (
	"context"
	"errors"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/storage"
)

// Delete deletes ns/name following k8s.io/apiserver's BeforeDelete: a
// positive grace period only marks the object (deletionTimestamp), pending
// finalizers keep it, and otherwise it is removed. It returns the object as
// it is after the call and whether it is gone from storage.
func (s *Store) Delete(ctx context.Context, ns, name string, opts *metav1.DeleteOptions, dryRun bool) (runtime.Object, bool, error) {
	if opts == nil {
		opts = &metav1.DeleteOptions{}
	}
	key := s.key(ns, name)
	var removeNow bool
	var dry runtime.Object
	out, err := s.storage.Update(key, func(cur runtime.Object) (runtime.Object, error) {
		removeNow, dry = false, nil // this may be a retry
		if err := checkPreconditions(s.res, name, opts.Preconditions, cur); err != nil {
			return nil, err
		}
		if ds, ok := s.res.Strategy.(DeleteStrategy); ok {
			if err := ds.BeforeDelete(ctx, cur); err != nil {
				return nil, err
			}
		}
		obj := cur.DeepCopyObject()
		m, _ := meta.Accessor(obj)
		grace := int64(0)
		if gs, ok := s.res.Strategy.(GracefulDeleteStrategy); ok {
			grace = gs.GracePeriod(ctx, cur, opts)
		}
		if dts := m.GetDeletionTimestamp(); dts != nil {
			// Already being deleted: only an explicitly shorter grace
			// period changes anything; it moves the deadline earlier.
			old := m.GetDeletionGracePeriodSeconds()
			if opts.GracePeriodSeconds == nil || old == nil || grace >= *old {
				return nil, storage.ErrNoChange
			}
			if grace == 0 && len(m.GetFinalizers()) == 0 {
				removeNow = true
				return nil, storage.ErrNoChange
			}
			t := metav1.NewTime(dts.Add(-time.Duration(*old) * time.Second).Add(time.Duration(grace) * time.Second))
			m.SetDeletionTimestamp(&t)
			m.SetDeletionGracePeriodSeconds(&grace)
		} else {
			if w := s.res.DefaultPropagationWarning; w != "" && opts.PropagationPolicy == nil && opts.OrphanDependents == nil {
				AddWarning(ctx, w)
			}
			if f := propagationFinalizer(s.res, opts, m); f != "" && !slices.Contains(m.GetFinalizers(), f) {
				// The garbage collector (package gc) orphans or
				// deletes the dependents, then removes it.
				m.SetFinalizers(append(m.GetFinalizers(), f))
			}
			held := len(m.GetFinalizers()) > 0
			if fs, ok := s.res.Strategy.(FinalizingDeleteStrategy); ok && fs.MarkDeleting(obj) {
				held = true
			}
			if grace == 0 && !held {
				removeNow = true
				return nil, storage.ErrNoChange
			}
			t := metav1.NewTime(s.now().Add(time.Duration(grace) * time.Second))
			m.SetDeletionTimestamp(&t)
			m.SetDeletionGracePeriodSeconds(&grace)
			if m.GetGeneration() > 0 {
				m.SetGeneration(m.GetGeneration() + 1)
			}
		}
		if dryRun {
			dry = obj
			return nil, errDryRun
		}
		return obj, nil
	})
	switch {
	case errors.Is(err, errDryRun):
		return dry, false, nil
	case errors.Is(err, storage.ErrNotFound):
		return nil, false, apierrors.NewNotFound(s.res.GroupResource(), name)
	case err != nil:
		return nil, false, err
	case !removeNow:
		return out, false, nil
	}
	if dryRun {
		return out, true, nil
	}
	gone, err := s.storage.Delete(key, func(cur runtime.Object) error {
		if err := checkPreconditions(s.res, name, opts.Preconditions, cur); err != nil {
			return err
		}
		// Between the decision and now a finalizer may have been added.
		if m, _ := meta.Accessor(cur); m != nil && len(m.GetFinalizers()) > 0 {
			return apierrors.NewConflict(s.res.GroupResource(), name, errors.New("finalizers were added during deletion; please retry"))
		}
		return nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, apierrors.NewNotFound(s.res.GroupResource(), name)
	}
	if err != nil {
		return nil, false, err
	}
	return gone, true, nil
}

// propagationFinalizer is the finalizer a first DELETE adds for its
// propagation policy (deletionFinalizersForGarbageCollection): "orphan"
// for Orphan, "foregroundDeletion" for Foreground, none for Background.
// A request that names no policy gets the resource's default, unless the
// object carries one of those finalizers already.
func propagationFinalizer(res *Resource, opts *metav1.DeleteOptions, m metav1.Object) string {
	var policy metav1.DeletionPropagation
	switch {
	case opts.PropagationPolicy != nil:
		policy = *opts.PropagationPolicy
	case opts.OrphanDependents != nil && *opts.OrphanDependents:
		policy = metav1.DeletePropagationOrphan
	case opts.OrphanDependents != nil:
		policy = metav1.DeletePropagationBackground
	case slices.Contains(m.GetFinalizers(), metav1.FinalizerOrphanDependents), slices.Contains(m.GetFinalizers(), metav1.FinalizerDeleteDependents):
		return ""
	default:
		policy = res.DefaultPropagation
	}
	switch policy {
	case metav1.DeletePropagationOrphan:
		return metav1.FinalizerOrphanDependents
	case metav1.DeletePropagationForeground:
		return metav1.FinalizerDeleteDependents
	}
	return ""
}
