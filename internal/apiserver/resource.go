package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/registry"
)

// serveResource dispatches /api/v1/... to the verb handlers.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequestInfo(r)
	if !ok {
		s.serveNotFound(w, r)
		return
	}
	st, ok := s.stores[info.Resource]
	if !ok {
		s.serveNotFound(w, r)
		return
	}
	res := st.Resource()
	if !res.Namespaced && info.Namespace != "" {
		s.serveNotFound(w, r)
		return
	}
	if !acceptsJSON(r.Header.Get("Accept")) && info.Subresource != "log" {
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "only the following media types are accepted: application/json, application/yaml", 0, false))
		return
	}
	ctx := r.Context()
	warnings := &registry.Warnings{}
	r = r.WithContext(registry.WithWarnings(ctx, warnings))
	ww := &warningWriter{ResponseWriter: w, warnings: warnings}

	switch info.Subresource {
	case "":
	case "status":
		if !res.HasStatus || info.Verb == "create" || info.Verb == "delete" {
			s.methodNotAllowed(ww, r)
			return
		}
	case "finalize":
		if res.Name != "namespaces" || info.Verb != "update" {
			s.methodNotAllowed(ww, r)
			return
		}
		s.serveUpdate(ww, r, st, info)
		return
	case "log":
		if res.Name != "pods" || info.Verb != "get" {
			s.methodNotAllowed(ww, r)
			return
		}
		s.serveLog(ww, r, st, info)
		return
	default:
		s.serveNotFound(ww, r)
		return
	}
	switch info.Verb {
	case "get":
		s.serveGet(ww, r, st, info)
	case "list":
		s.serveList(ww, r, st, info)
	case "watch":
		s.serveWatch(ww, r, st, info)
	case "create":
		if info.Name != "" {
			s.methodNotAllowed(ww, r)
			return
		}
		s.serveCreate(ww, r, st, info)
	case "update":
		s.serveUpdate(ww, r, st, info)
	case "patch":
		s.servePatch(ww, r, st, info)
	case "delete":
		s.serveDelete(ww, r, st, info)
	case "deletecollection":
		s.serveDeleteCollection(ww, r, st, info)
	default:
		s.methodNotAllowed(ww, r)
	}
}

// warningWriter adds the request's warnings as headers just before the
// response header is written.
type warningWriter struct {
	http.ResponseWriter
	warnings *registry.Warnings
	wrote    bool
}

func (w *warningWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		writeWarnings(w.ResponseWriter, w.warnings.List())
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *warningWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *warningWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusMethodNotAllowed, "", schema.GroupResource{}, "", "the server does not allow this method on the requested resource", 0, false))
}

// listOptions parses labelSelector, fieldSelector and resourceVersion; an
// unsupported field label is a 400 as upstream.
func listOptions(r *http.Request, st *registry.Store) (registry.ListOptions, error) {
	q := r.URL.Query()
	opts := registry.ListOptions{ResourceVersion: q.Get("resourceVersion"), SendInitialEvents: q.Get("sendInitialEvents") == "true"}
	if ls := q.Get("labelSelector"); ls != "" {
		sel, err := labels.Parse(ls)
		if err != nil {
			return opts, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		opts.Labels = sel
	}
	if fs := q.Get("fieldSelector"); fs != "" {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			return opts, apierrors.NewBadRequest(err.Error())
		}
		supported := st.Resource().Strategy.SelectableFields(st.Resource().New())
		for _, req := range sel.Requirements() {
			if _, ok := supported[req.Field]; !ok {
				return opts, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
		opts.Fields = sel
	}
	return opts, nil
}

// isDryRun reads the dryRun query parameter (only "All" is valid).
func isDryRun(r *http.Request) (bool, error) {
	vals := r.URL.Query()["dryRun"]
	for _, v := range vals {
		if v != "All" {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q; only 'All' is supported", strings.Join(vals, ",")))
		}
	}
	return len(vals) > 0, nil
}
