package apiserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metainternalversionvalidation "k8s.io/apimachinery/pkg/apis/meta/internalversion/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/audit"
	"github.com/peapod/peapod/internal/registry"
)

// serveResource dispatches /api/v1/... and /apis/<group>/<version>/... to
// the verb handlers.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	info, ok := parseRequestInfo(r)
	if !ok {
		s.serveNotFound(w, r)
		return
	}
	key := info.Resource
	if info.Group != "" {
		key += "." + info.Group
	}
	st, ok := s.stores[key]
	if !ok || st.Resource().GroupVersion().Version != info.Version {
		s.serveNotFound(w, r)
		return
	}
	res := st.Resource()
	if !res.Namespaced && info.Namespace != "" {
		s.serveNotFound(w, r)
		return
	}
	if !acceptsJSON(r.Header.Get("Accept")) && !streamingSubresource(info.Subresource) {
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "", schema.GroupResource{}, "", "only the following media types are accepted: application/json, application/yaml", 0, false))
		return
	}
	ctx := r.Context()
	warnings := &registry.Warnings{}
	ctx = registry.WithWarnings(ctx, warnings)
	// Admission's audit annotations (PodSecurity's) go on the event.
	annotations := &registry.AuditAnnotations{}
	ctx = registry.WithAuditAnnotations(ctx, annotations)
	defer func() {
		for k, v := range annotations.Map() {
			audit.AddAnnotation(ctx, k, v)
		}
	}()
	r = r.WithContext(ctx)
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
	case "ephemeralcontainers", "resize":
		if res.Name != "pods" {
			s.serveNotFound(ww, r)
			return
		}
		if info.Verb != "get" && info.Verb != "update" && info.Verb != "patch" {
			s.methodNotAllowed(ww, r)
			return
		}
	case "approval":
		if !res.HasApproval {
			s.serveNotFound(ww, r)
			return
		}
		if info.Verb != "get" && info.Verb != "update" && info.Verb != "patch" {
			s.methodNotAllowed(ww, r)
			return
		}
	case "scale":
		if res.Scale == nil {
			s.serveNotFound(ww, r)
			return
		}
		s.serveScale(ww, r, st, info)
		return
	case "log":
		if res.Name != "pods" || info.Verb != "get" {
			s.methodNotAllowed(ww, r)
			return
		}
		s.serveLog(ww, r, st, info)
		return
	case "exec", "attach", "portforward":
		if res.Name != "pods" {
			s.serveNotFound(ww, r)
			return
		}
		s.serveStream(ww, r, st, info)
		return
	case "token":
		if res.Name != "serviceaccounts" || s.tokenReqs == nil {
			s.serveNotFound(ww, r)
			return
		}
		if info.Verb != "create" {
			s.methodNotAllowed(ww, r)
			return
		}
		s.serveTokenRequest(ww, r, info)
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

// streamingSubresource: responses that are not API objects, whatever the
// client accepts.
func streamingSubresource(sub string) bool {
	switch sub {
	case "log", "exec", "attach", "portforward":
		return true
	}
	return false
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

// listOptions parses the list and watch parameters the way kube-apiserver
// does (apimachinery's conversions and ValidateListOptions, so bad input
// gets upstream's 400 or 422), plus peapod's check that field selectors
// name supported fields. It also returns the watch's timeoutSeconds.
func listOptions(r *http.Request, st *registry.Store, watch bool) (registry.ListOptions, *int64, error) {
	q := r.URL.Query()
	var v1opts metav1.ListOptions
	var opts metainternalversion.ListOptions
	err := metav1.Convert_url_Values_To_v1_ListOptions(&q, &v1opts, nil)
	if err == nil {
		err = metainternalversion.Convert_v1_ListOptions_To_internalversion_ListOptions(&v1opts, &opts, nil)
	}
	if err != nil {
		return registry.ListOptions{}, nil, apierrors.NewBadRequest(err.Error())
	}
	opts.Watch = watch // also true for /watch/ paths
	if errs := metainternalversionvalidation.ValidateListOptions(&opts, true); len(errs) > 0 {
		return registry.ListOptions{}, nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
	}
	if watch && opts.Continue != "" {
		// Upstream ignores it; a watch has no pages.
		return registry.ListOptions{}, nil, apierrors.NewBadRequest("continue is not supported for watch")
	}
	if opts.Continue != "" && opts.ResourceVersion != "" && opts.ResourceVersion != "0" {
		return registry.ListOptions{}, nil, apierrors.NewBadRequest("specifying resource version is not allowed when using continue")
	}
	if _, err := strconv.ParseUint(opts.ResourceVersion, 10, 64); opts.ResourceVersion != "" && err != nil {
		// Upstream answers a watch with 500 and a list with 400; bad
		// input is a 400 either way here.
		return registry.ListOptions{}, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: resourceVersion: Invalid value: %q: %v", opts.ResourceVersion, err))
	}
	out := registry.ListOptions{
		Labels: opts.LabelSelector, Fields: opts.FieldSelector,
		ResourceVersion: opts.ResourceVersion, ResourceVersionMatch: opts.ResourceVersionMatch,
		Limit: opts.Limit, Continue: opts.Continue,
		SendInitialEvents: opts.SendInitialEvents != nil && *opts.SendInitialEvents, AllowWatchBookmarks: opts.AllowWatchBookmarks,
	}
	if out.Labels != nil && out.Labels.Empty() {
		out.Labels = nil
	}
	if out.Fields != nil && out.Fields.Empty() {
		out.Fields = nil
	}
	if out.Fields != nil {
		supported := st.Resource().Strategy.SelectableFields(st.Resource().New())
		for _, req := range out.Fields.Requirements() {
			if _, ok := supported[req.Field]; !ok {
				return registry.ListOptions{}, nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
			}
		}
	}
	return out, opts.TimeoutSeconds, nil
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

// Hijack hands the connection to an upgraded stream.
func (w *warningWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.wrote = true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}
