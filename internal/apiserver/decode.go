package apiserver

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/registry"
)

// maxBodyBytes is kube-apiserver's limit for request bodies (3 MiB).
const maxBodyBytes = 3 << 20

func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return body, nil
}

// fieldValidation returns the request's fieldValidation directive; Warn is
// the default since Kubernetes 1.27.
func fieldValidation(r *http.Request) (string, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "":
		return metav1.FieldValidationWarn, nil
	case metav1.FieldValidationIgnore, metav1.FieldValidationWarn, metav1.FieldValidationStrict:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("fieldValidation must be one of Ignore, Warn, Strict; got %q", v))
	}
}

// decodeObject decodes a create/update body into a new object of the
// store's kind, applying the fieldValidation directive like upstream: Strict
// fails on unknown or duplicate fields, Warn reports them as warnings.
func (s *Server) decodeObject(r *http.Request, st *registry.Store, body []byte) (runtime.Object, error) {
	directive, err := fieldValidation(r)
	if err != nil {
		return nil, err
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	res := st.Resource()
	strict, lax := s.scheme.StrictJSON, s.scheme.JSON
	switch mt {
	case "", "application/json":
	case "application/yaml":
		strict, lax = s.scheme.StrictYAML, s.scheme.YAML
	case protobufType:
		// Protobuf has no unknown fields to police.
		info, _ := runtime.SerializerInfoForMediaType(s.scheme.Codecs.SupportedMediaTypes(), protobufType)
		strict, lax = info.Serializer, info.Serializer
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false)
	}
	gvk := res.GroupVersion().WithKind(res.Kind)
	if err := checkQuantities(body, mt, reflect.TypeOf(res.New())); err != nil {
		return nil, decodeError(res, &gvk, err)
	}
	decoder := lax
	if directive != metav1.FieldValidationIgnore {
		decoder = strict
	}
	obj, actual, err := decoder.Decode(body, &gvk, res.New())
	if err != nil && runtime.IsStrictDecodingError(err) && obj != nil {
		if directive == metav1.FieldValidationStrict {
			return nil, decodeError(res, actual, err)
		}
		if sde, ok := runtime.AsStrictDecodingError(err); ok {
			for _, e := range sde.Errors() {
				registry.AddWarning(r.Context(), e.Error())
			}
		}
		err = nil
	}
	if err != nil {
		return nil, decodeError(res, actual, err)
	}
	if actual != nil && (actual.Kind != res.Kind || actual.GroupVersion() != res.GroupVersion()) {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: the kind of the object does not match the resource of the request", actual.Kind, actual.Version, res.Kind))
	}
	return obj, nil
}

// decodeError is transformDecodeError upstream.
func decodeError(res *registry.Resource, gvk *schema.GroupVersionKind, err error) error {
	if gvk != nil && gvk.Kind != "" {
		return apierrors.NewBadRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, res.Kind, err))
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the object provided is unrecognized (must be of type %s): %v", res.Kind, err))
}

// decodeDeleteOptions reads DeleteOptions from the body and query.
func (s *Server) decodeDeleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	// Options come from the body when there is one, else from the query.
	if len(strings.TrimSpace(string(body))) > 0 {
		gvk := schema.GroupVersionKind{Version: "v1", Kind: "DeleteOptions"}
		dec := runtime.Decoder(s.scheme.JSON)
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == protobufType {
			info, _ := runtime.SerializerInfoForMediaType(s.scheme.Codecs.SupportedMediaTypes(), protobufType)
			dec = info.Serializer
		}
		if _, _, err := dec.Decode(body, &gvk, opts); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	} else {
		q := r.URL.Query()
		if err := metav1.Convert_url_Values_To_v1_DeleteOptions(&q, opts, nil); err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
	}
	// Both orphanDependents and propagationPolicy, or an unknown policy,
	// are refused as upstream does.
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	return opts, nil
}
