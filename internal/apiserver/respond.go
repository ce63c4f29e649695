package apiserver

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/audit"
	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/scheme"
)

// writeError writes err as a metav1.Status. This is the one place errors
// become HTTP codes: Kubernetes API errors keep theirs, the runtime's
// kinds (errdefs) get theirs from kindStatuses, and anything else is a 500
// InternalError (and logged, since the client learns little).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := s.statusFor(r, err)
	code := int(status.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	s.writeNegotiated(w, r, code, status)
}

// statusFor converts err into a Status.
func (s *Server) statusFor(r *http.Request, err error) *metav1.Status {
	var status *metav1.Status
	var apiStatus apierrors.APIStatus
	if errors.As(err, &apiStatus) {
		st := apiStatus.Status()
		status = &st
	} else if st := kindStatus(err); st != nil {
		status = st
	} else {
		s.log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		st := apierrors.NewInternalError(err).Status()
		status = &st
	}
	status.Kind, status.APIVersion = "Status", "v1"
	if status.Status == "" {
		status.Status = metav1.StatusFailure
	}
	return status
}

// kindStatuses are the HTTP codes and reasons of the runtime's error
// kinds, as gRPC's HTTP mapping has them (and the kubelet's streaming
// server for NotFound).
var kindStatuses = []struct {
	kind   error
	code   int32
	reason metav1.StatusReason
}{
	{errdefs.ErrNotFound, http.StatusNotFound, metav1.StatusReasonNotFound},
	{errdefs.ErrAlreadyExists, http.StatusConflict, metav1.StatusReasonAlreadyExists},
	{errdefs.ErrInvalidArgument, http.StatusBadRequest, metav1.StatusReasonBadRequest},
	{errdefs.ErrFailedPrecondition, http.StatusBadRequest, metav1.StatusReasonBadRequest},
	{errdefs.ErrUnimplemented, http.StatusNotImplemented, metav1.StatusReasonUnknown},
	{errdefs.ErrUnavailable, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable},
}

// kindStatus is the Status of an error of one of the runtime's kinds, with
// its message; nil for other errors.
func kindStatus(err error) *metav1.Status {
	for _, k := range kindStatuses {
		if errors.Is(err, k.kind) {
			return &metav1.Status{Status: metav1.StatusFailure, Code: k.code, Reason: k.reason, Message: err.Error()}
		}
	}
	return nil
}

// writeObject encodes obj (apiVersion and kind filled) with code, as JSON
// or protobuf according to the Accept header.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	s.writeNegotiated(w, r, code, withKind(s.scheme, obj))
}

const protobufType = "application/vnd.kubernetes.protobuf"

// writeNegotiated encodes obj in the first media type of the Accept header
// peapod speaks: JSON (the default) or Kubernetes protobuf.
func (s *Server) writeNegotiated(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	audit.LogResponseObject(r.Context(), obj)
	if outputMediaType(r.Header.Get("Accept")) != protobufType {
		s.writeJSON(w, code, obj)
		return
	}
	info, _ := runtime.SerializerInfoForMediaType(s.scheme.Codecs.SupportedMediaTypes(), protobufType)
	data, err := runtime.Encode(info.Serializer, obj)
	if err != nil {
		// Not every kind has a protobuf form; JSON is always acceptable.
		s.writeJSON(w, code, obj)
		return
	}
	w.Header().Set("Content-Type", protobufType)
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// outputMediaType picks the response media type from an Accept header.
func outputMediaType(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["as"] != "" {
			continue
		}
		switch mt {
		case protobufType:
			return protobufType
		case "application/json", "*/*", "application/*":
			return "application/json"
		}
	}
	return "application/json"
}

// withKind returns obj with apiVersion and kind set, copying it first if
// they are missing: objects from storage are shared and read-only.
func withKind(sc *scheme.Scheme, obj runtime.Object) runtime.Object {
	if !obj.GetObjectKind().GroupVersionKind().Empty() {
		return obj
	}
	cp := obj.DeepCopyObject()
	_ = sc.SetKind(cp)
	return cp
}

func (s *Server) writeJSON(w http.ResponseWriter, code int, obj runtime.Object) {
	data, err := runtime.Encode(s.scheme.JSON, obj)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
}

// writeWarnings adds RFC 7234 style warning headers, as upstream does.
func writeWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		w.Header().Add("Warning", `299 - "`+strings.ReplaceAll(strings.ReplaceAll(msg, `\`, `\\`), `"`, `\"`)+`"`)
	}
}

// tableVersion reports whether the client asked for a server-side Table and
// in which meta.k8s.io version ("v1" or "v1beta1"); "" means no Table.
// partial reports a request for PartialObjectMetadata(List).
func tableVersion(accept string) (table string, partial string) {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || (mt != "application/json" && mt != "*/*") {
			continue
		}
		if params["g"] != "meta.k8s.io" {
			if mt == "application/json" && params["as"] == "" {
				return "", "" // plain JSON is acceptable: stop at the first match
			}
			continue
		}
		switch params["as"] {
		case "Table":
			if params["v"] == "v1" || params["v"] == "v1beta1" {
				return params["v"], ""
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if params["v"] == "v1" || params["v"] == "v1beta1" {
				return "", params["v"]
			}
		}
	}
	return "", ""
}

// acceptsJSON reports whether the Accept header allows a JSON answer.
func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*", protobufType:
			return true
		}
	}
	return false
}

func (s *Server) logRequestError(r *http.Request, msg string, err error) {
	s.log.DebugContext(r.Context(), msg, slog.String("path", r.URL.Path), slog.Any("err", err))
}
