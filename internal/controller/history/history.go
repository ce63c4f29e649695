// Package history keeps the ControllerRevisions of DaemonSets and
// StatefulSets (pkg/controller/history): one revision per distinct pod
// template, holding the strategic merge patch that restores it, numbered
// so that the newest is the current one (a template seen before gets its
// old revision back, renumbered: a rollback), and pruned beyond the
// owner's revisionHistoryLimit.
package history

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/registry"
)

// ErrCollision is returned when a revision of that name holds another
// template: the owner counts the collision and tries again.
var ErrCollision = fmt.Errorf("controller revision name collision")

// PatchData is the revision data of a template: the strategic merge patch
// that restores it, {"spec":{"template":{...,"$patch":"replace"}}}.
func PatchData(t *corev1.PodTemplateSpec) ([]byte, error) {
	raw, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	var tmpl map[string]any
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return nil, err
	}
	tmpl["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": tmpl}})
}

// Template reads a revision's template back.
func Template(cr *appsv1.ControllerRevision) (*corev1.PodTemplateSpec, error) {
	var data struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(cr.Data.Raw, &data); err != nil {
		return nil, fmt.Errorf("revision %s: %w", cr.Name, err)
	}
	return &data.Spec.Template, nil
}

// Owner says whose revisions they are and how the new one is made.
type Owner struct {
	Object metav1.Object
	// APIVersion and Kind of the owner, for the controller reference.
	APIVersion, Kind string
	// Name is the new revision's name; Labels and Annotations its
	// metadata.
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// Sync returns the revision holding data — made anew, or an older one
// renumbered to be the newest — and every revision the owner has.
func Sync(ctx context.Context, st controller.Store, o Owner, data []byte) (*appsv1.ControllerRevision, []*appsv1.ControllerRevision, error) {
	list, err := st.List(ctx, o.Object.GetNamespace(), registry.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	var owned []*appsv1.ControllerRevision
	var maxRev int64
	var match *appsv1.ControllerRevision
	for i := range list.(*appsv1.ControllerRevisionList).Items {
		cr := &list.(*appsv1.ControllerRevisionList).Items[i]
		if ref := metav1.GetControllerOf(cr); ref == nil || ref.UID != o.Object.GetUID() {
			continue
		}
		owned = append(owned, cr)
		maxRev = max(maxRev, cr.Revision)
		if string(cr.Data.Raw) == string(data) {
			match = cr
		}
	}
	switch {
	case match != nil && match.Revision < maxRev:
		out, err := st.Update(ctx, o.Object.GetNamespace(), match.Name, func(cur runtime.Object) (runtime.Object, error) {
			cr := cur.(*appsv1.ControllerRevision).DeepCopy()
			cr.Revision = maxRev + 1
			return cr, nil
		}, registry.UpdateOptions{})
		if err != nil {
			return nil, nil, err
		}
		match = out.(*appsv1.ControllerRevision)
	case match == nil:
		cr := &appsv1.ControllerRevision{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Object.GetNamespace(), Labels: o.Labels, Annotations: o.Annotations,
				OwnerReferences: []metav1.OwnerReference{controller.NewControllerRef(o.Object, o.APIVersion, o.Kind)}},
			Data: runtime.RawExtension{Raw: data}, Revision: maxRev + 1,
		}
		out, err := st.Create(ctx, o.Object.GetNamespace(), cr, false)
		if apierrors.IsAlreadyExists(err) {
			return nil, nil, fmt.Errorf("%s: %w", o.Name, ErrCollision)
		}
		if err != nil {
			return nil, nil, err
		}
		match = out.(*appsv1.ControllerRevision)
		owned = append(owned, match)
	}
	return match, owned, nil
}

// Prune deletes the oldest revisions beyond limit that keep does not name.
func Prune(ctx context.Context, st controller.Store, owned []*appsv1.ControllerRevision, keep func(*appsv1.ControllerRevision) bool, limit *int32) error {
	if limit == nil {
		return nil
	}
	var old []*appsv1.ControllerRevision
	for _, cr := range owned {
		if !keep(cr) {
			old = append(old, cr)
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	for i := 0; i < len(old)-int(*limit); i++ {
		if _, _, err := st.Delete(ctx, old[i].Namespace, old[i].Name, nil, false); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
