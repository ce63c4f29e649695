package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"reflect"
	"sync/atomic"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/mergepatch"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/audit"
	"github.com/peapod/peapod/internal/registry"
)

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	obj, dryRun, ok := s.readWrite(w, r, st)
	if !ok {
		return
	}
	out, err := st.Create(r.Context(), info.Namespace, obj, dryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, out)
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	obj, dryRun, ok := s.readWrite(w, r, st)
	if !ok {
		return
	}
	out, err := st.Update(r.Context(), info.Namespace, info.Name, func(runtime.Object) (runtime.Object, error) {
		return obj, nil
	}, registry.UpdateOptions{Status: info.Subresource == "status", Finalize: info.Subresource == "finalize",
		EphemeralContainers: info.Subresource == "ephemeralcontainers", Resize: info.Subresource == "resize", Approval: info.Subresource == "approval", DryRun: dryRun})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, out)
}

// readWrite reads the dryRun parameter and the object of a create or
// update; on failure it has answered the request and ok is false.
func (s *Server) readWrite(w http.ResponseWriter, r *http.Request, st *registry.Store) (obj runtime.Object, dryRun, ok bool) {
	dryRun, err := isDryRun(r)
	if err == nil {
		var body []byte
		if body, err = readBody(r); err == nil {
			obj, err = s.decodeObject(r, st, body)
		}
		if err == nil {
			audit.LogRequestObject(r.Context(), obj, st.Resource().GroupVersion().WithKind(st.Resource().Kind))
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, false, false
	}
	return obj, dryRun, true
}

// servePatch applies a JSON, merge or strategic merge patch to the stored
// object. The patch is applied without any lock held and applied again if
// another write got in first (see registry.UpdateFunc), so concurrent
// patches never conflict and a large one delays nobody else.
func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	dryRun, err := isDryRun(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	directive, err := fieldValidation(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	patch, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	pt := types.PatchType(mt)
	if (pt == types.JSONPatchType || pt == types.MergePatchType || pt == types.StrategicMergePatchType) && !json.Valid(patch) {
		s.writeError(w, r, apierrors.NewBadRequest("invalid JSON patch"))
		return
	}
	switch pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "",
			"server-side apply is not supported by peapod yet; use client-side kubectl apply", 0, false))
		return
	default:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false))
		return
	}
	res := st.Resource()
	out, err := st.Update(r.Context(), info.Namespace, info.Name, func(cur runtime.Object) (runtime.Object, error) {
		curJSON, err := s.scheme.Encode(cur.DeepCopyObject())
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, curJSON, patch, res.New())
		if err != nil {
			return nil, err
		}
		if err := checkQuantities(patched, "application/json", reflect.TypeOf(res.New())); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		decoder := s.scheme.StrictJSON
		if directive == metav1.FieldValidationIgnore {
			decoder = s.scheme.JSON
		}
		obj, _, err := decoder.Decode(patched, nil, res.New())
		if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
			if directive == metav1.FieldValidationStrict {
				return nil, patchStrictError(patch, err)
			}
			if sde, ok := runtime.AsStrictDecodingError(err); ok {
				for _, e := range sde.Errors() {
					registry.AddWarning(r.Context(), e.Error())
				}
			}
			err = nil
		}
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return obj, nil
	}, registry.UpdateOptions{Status: info.Subresource == "status", EphemeralContainers: info.Subresource == "ephemeralcontainers",
		Resize: info.Subresource == "resize", Approval: info.Subresource == "approval", DryRun: dryRun})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, out)
}

// Patch limits of kube-apiserver: operations per JSON patch
// (maxJSONPatchOperations) and the bytes all its copy operations may add
// (JSONPatchMaxCopyBytes), which keep a small patch from growing a large
// document.
const (
	maxJSONPatchOperations = 10000
	maxJSONPatchCopyBytes  = 3 << 20
)

// limitJSONPatchCopies sets json-patch's copy limit. The library offers
// it only as a package variable, which kube-apiserver sets the same way at
// start; an existing smaller limit is kept.
func limitJSONPatchCopies() {
	for {
		cur := atomic.LoadInt64(&jsonpatch.AccumulatedCopySizeLimit)
		if cur > 0 && cur <= maxJSONPatchCopyBytes {
			return
		}
		if atomic.CompareAndSwapInt64(&jsonpatch.AccumulatedCopySizeLimit, cur, maxJSONPatchCopyBytes) {
			return
		}
	}
}

// applyPatch follows k8s.io/apiserver's patch handler, error codes included.
func applyPatch(pt types.PatchType, cur, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		if len(p) > maxJSONPatchOperations {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, len(p)))
		}
		out, err := p.Apply(cur)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	default:
		out, err := strategicpatch.StrategicMergePatch(cur, patch, schemaObj)
		if err != nil {
			switch err {
			case mergepatch.ErrNoListOfLists, mergepatch.ErrPatchContentNotMatchRetainKeys:
				return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "", schema.GroupResource{}, "", err.Error(), 0, false)
			}
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
}

// patchStrictError is the 422 upstream returns for unknown fields in a
// patch under fieldValidation=Strict.
func patchStrictError(patch []byte, err error) error {
	var m map[string]any
	_ = json.Unmarshal(patch, &m)
	return apierrors.NewInvalid(schema.GroupKind{}, "", field.ErrorList{
		field.Invalid(field.NewPath("patch"), fmt.Sprintf("%+v", m), err.Error()),
	})
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	dryRun, err := isDryRun(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := s.decodeDeleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dryRun = dryRun || len(opts.DryRun) > 0
	obj, deleted, err := st.Delete(r.Context(), info.Namespace, info.Name, opts, dryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeDeleted(w, r, st, obj, deleted)
}

func (s *Server) writeDeleted(w http.ResponseWriter, r *http.Request, st *registry.Store, obj runtime.Object, deleted bool) {
	res := st.Resource()
	if !deleted || res.ReturnDeletedObject {
		s.writeObject(w, r, http.StatusOK, obj)
		return
	}
	a, _ := meta.Accessor(obj)
	s.writeJSON(w, http.StatusOK, &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  &metav1.StatusDetails{Name: a.GetName(), Kind: res.Name, UID: a.GetUID()},
	})
}

// serveDeleteCollection deletes every matching object, one by one with the
// same options, and answers with the list of what was deleted or marked.
func (s *Server) serveDeleteCollection(w http.ResponseWriter, r *http.Request, st *registry.Store, info requestInfo) {
	dryRun, err := isDryRun(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	lopts, _, err := listOptions(r, st, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	opts, err := s.decodeDeleteOptions(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	list, err := st.List(r.Context(), info.Namespace, lopts)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var done []runtime.Object
	for _, it := range items {
		a, _ := meta.Accessor(it)
		obj, _, err := st.Delete(r.Context(), a.GetNamespace(), a.GetName(), opts, dryRun)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		done = append(done, obj)
	}
	out := st.Resource().NewList()
	if err := meta.SetList(out, done); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, out)
}
