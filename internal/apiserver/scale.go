package apiserver

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/registry"
)

// The scale subresource (ScaleREST of pkg/registry/apps/*/storage): an
// autoscaling/v1 Scale view of a scalable object, whose writes change only
// the object's spec.replicas.

var (
	scaleKind     = schema.GroupKind{Group: autoscalingv1.GroupName, Kind: "Scale"}
	metaTypeScale = metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"}
	// errObjectModified is the conflict of a write against an older
	// resourceVersion, in upstream's words.
	errObjectModified = errors.New("the object has been modified; please apply your changes to the latest version and try again")
)

// scaleMeta is the metadata a Scale carries of its object.
func scaleMeta(m metav1.Object) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
		ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()}
}

// scaleOf is obj's Scale.
func scaleOf(acc *registry.ScaleAccess, obj runtime.Object) *autoscalingv1.Scale {
	m, _ := meta.Accessor(obj)
	spec, status, selector := acc.Get(obj)
	return &autoscalingv1.Scale{
		TypeMeta:   metaTypeScale,
		ObjectMeta: scaleMeta(m),
		Spec:       autoscalingv1.ScaleSpec{Replicas: spec},
		Status:     autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}
}

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	acc := st.Resource().Scale
	switch info.Verb {
	case "get":
		obj, err := st.Get(r.Context(), info.Namespace, info.Name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, scaleOf(acc, obj))
	case "update", "patch":
		dryRun, err := isDryRun(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		body, err := readBody(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var pt types.PatchType
		if info.Verb == "patch" {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			pt = types.PatchType(mt)
			switch pt {
			case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
			default:
				s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false))
				return
			}
		}
		out, err := st.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
			curScale := scaleOf(acc, cur)
			want := &autoscalingv1.Scale{}
			if pt == "" {
				if err := json.Unmarshal(body, want); err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
				if want.ResourceVersion != "" && want.ResourceVersion != curScale.ResourceVersion {
					return nil, apierrors.NewConflict(st.Resource().GroupResource(), info.Name,
						errObjectModified)
				}
			} else {
				curJSON, err := json.Marshal(curScale)
				if err != nil {
					return nil, err
				}
				patched, err := applyPatch(pt, curJSON, body, &autoscalingv1.Scale{})
				if err != nil {
					return nil, err
				}
				if err := json.Unmarshal(patched, want); err != nil {
					return nil, apierrors.NewBadRequest(err.Error())
				}
			}
			if want.Spec.Replicas < 0 {
				return nil, apierrors.NewInvalid(scaleKind, info.Name, field.ErrorList{
					field.Invalid(field.NewPath("spec", "replicas"), want.Spec.Replicas, "must be greater than or equal to 0")})
			}
			obj := cur.DeepCopyObject()
			acc.Set(obj, want.Spec.Replicas)
			return obj, nil
		}, registry.UpdateOptions{Scale: true, DryRun: dryRun})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, scaleOf(acc, out))
	default:
		s.methodNotAllowed(w, r)
	}
}
