package apiserver

import (
	"context"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
)

// TokenRequester issues service-account tokens (serviceaccounts/token).
type TokenRequester interface {
	Create(ctx context.Context, ns, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

var tokenRequestGVK = authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")

// serveTokenRequest is POST .../serviceaccounts/{name}/token: the body is
// an authentication.k8s.io/v1 TokenRequest, answered with the token.
func (s *Server) serveTokenRequest(w http.ResponseWriter, r *http.Request, info requestInfo) {
	req := &authenticationv1.TokenRequest{}
	if err := s.decodeBody(r, tokenRequestGVK, req); err != nil {
		s.writeError(w, r, err)
		return
	}
	out, err := s.tokenReqs.Create(r.Context(), info.Namespace, info.Name, req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusCreated, out)
}
