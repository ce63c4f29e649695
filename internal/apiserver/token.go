package apiserver

import (
	"context"
	"mime"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TokenRequester issues service-account tokens (serviceaccounts/token).
type TokenRequester interface {
	Create(ctx context.Context, ns, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// serveTokenRequest is POST .../serviceaccounts/{name}/token: the body is
// an authentication.k8s.io/v1 TokenRequest, answered with the token.
func (s *Server) serveTokenRequest(w http.ResponseWriter, r *http.Request, info requestInfo) {
	body, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	req := &authenticationv1.TokenRequest{}
	gvk := tokenRequestGVK
	var dec runtime.Decoder = s.scheme.JSON
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "", "application/json":
	case "application/yaml":
		dec = s.scheme.YAML
	case protobufType:
		info, _ := runtime.SerializerInfoForMediaType(s.scheme.Codecs.SupportedMediaTypes(), protobufType)
		dec = info.Serializer
	default:
		s.writeError(w, r, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "", schema.GroupResource{}, "", "415: Unsupported Media Type", 0, false))
		return
	}
	if _, actual, err := dec.Decode(body, &gvk, req); err != nil {
		s.writeError(w, r, apierrors.NewBadRequest(err.Error()))
		return
	} else if actual != nil && *actual != tokenRequestGVK {
		s.writeError(w, r, apierrors.NewBadRequest("the body of a token request must be an authentication.k8s.io/v1 TokenRequest, not "+actual.String()))
		return
	}
	out, err := s.tokenReqs.Create(r.Context(), info.Namespace, info.Name, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, out)
}
