package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/peapod/peapod/internal/satoken"
)

// TokenAuthenticator checks bearer tokens (service-account JWTs).
type TokenAuthenticator interface {
	Authenticate(ctx context.Context, token string) (*satoken.Identity, error)
}

// User is who a request comes from, as k8s.io/apiserver's user.Info.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// serviceAccount reports the namespace of a service-account user.
func (u *User) serviceAccount() (ns string, ok bool) {
	rest, ok := strings.CutPrefix(u.Name, "system:serviceaccount:")
	if !ok {
		return "", false
	}
	ns, _, ok = strings.Cut(rest, ":")
	return ns, ok
}

type userKey struct{}

// UserFrom returns the authenticated user of a request context.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok
}

// authenticate admits requests that present a client certificate signed by
// the cluster CA (verified by TLS; CN is the user, O the groups) or a valid
// service-account bearer token; there is no anonymous access.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.userOf(r)
		if err != nil {
			s.log.Debug("authentication failed", "uri", r.URL.RequestURI(), "err", err)
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		if u != nil {
			r = r.WithContext(context.WithValue(r.Context(), userKey{}, u))
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) userOf(r *http.Request) (*User, error) {
	if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && s.tokens != nil {
		id, err := s.tokens.Authenticate(r.Context(), strings.TrimSpace(raw))
		if err != nil {
			return nil, err
		}
		u := &User{
			Name:   satoken.Username(id.Namespace, id.ServiceAccount.Name),
			UID:    string(id.ServiceAccount.UID),
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, "system:authenticated"},
			Extra:  map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=" + id.ID}},
		}
		if id.Pod != nil {
			u.Extra["authentication.kubernetes.io/pod-name"] = []string{id.Pod.Name}
			u.Extra["authentication.kubernetes.io/pod-uid"] = []string{string(id.Pod.UID)}
		}
		return u, nil
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cert := r.TLS.VerifiedChains[0][0]
		groups := append(slices.Clone(cert.Subject.Organization), "system:authenticated")
		return &User{Name: cert.Subject.CommonName, Groups: groups}, nil
	}
	if s.requireCert {
		return nil, fmt.Errorf("no client certificate or bearer token")
	}
	return nil, nil
}

// authorize decides a request until RBAC exists: certificate users may do
// everything (peapod's CA signs only the admin's), and a service account
// may read (get, list, watch) in its own namespace and read discovery,
// as the issue that brought tokens asks.
func (s *Server) authorize(r *http.Request, info *requestInfo) error {
	u, ok := UserFrom(r.Context())
	if !ok {
		return nil
	}
	ns, isSA := u.serviceAccount()
	if !isSA {
		return nil
	}
	if info == nil {
		if r.Method == http.MethodGet && publicPath(r.URL.Path) {
			return nil
		}
		return apierrors.NewForbidden(schema.GroupResource{}, "",
			fmt.Errorf("User %q cannot %s path %q", u.Name, strings.ToLower(r.Method), r.URL.Path))
	}
	switch info.Verb {
	case "get", "list", "watch":
		if info.Namespace == ns {
			return nil
		}
	}
	scope := "at the cluster scope"
	if info.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", info.Namespace)
	}
	resource := info.Resource
	if info.Subresource != "" {
		resource += "/" + info.Subresource
	}
	err := fmt.Errorf("User %q cannot %s resource %q in API group %q %s", u.Name, info.Verb, resource, info.Group, scope)
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden,
		Details: &metav1.StatusDetails{Name: info.Name, Kind: info.Resource},
		Message: forbiddenMessage(info, err),
	}}
}

// forbiddenMessage is apierrors.NewForbidden's message, which names the
// resource and the object when there is one.
func forbiddenMessage(info *requestInfo, err error) string {
	if info.Name == "" {
		return fmt.Sprintf("%s is forbidden: %v", info.Resource, err)
	}
	return fmt.Sprintf("%s %q is forbidden: %v", info.Resource, info.Name, err)
}

// publicPath is what system:discovery and system:public-info-viewer allow
// every authenticated user.
func publicPath(p string) bool {
	switch p {
	case "/api", "/api/", "/apis", "/apis/", "/version", "/version/", "/healthz", "/livez", "/readyz", "/openapi/v2", "/openapi/v3":
		return true
	}
	return strings.HasPrefix(p, "/openapi/v3/") || p == "/api/v1" || strings.HasPrefix(p, "/apis/") && strings.Count(strings.Trim(p, "/"), "/") <= 2
}

// isResourcePath reports whether p is below /api/v1/ or below one of the
// served /apis/<group>/<version>/, where serveResource authorizes.
func (s *Server) isResourcePath(p string) bool {
	if strings.HasPrefix(p, "/api/v1/") {
		return true
	}
	for _, gv := range s.groups {
		if strings.HasPrefix(p, "/apis/"+gv.String()+"/") {
			return true
		}
	}
	return false
}

// authorizeNonResource authorizes every request that is not for a resource
// (serveResource authorizes those once it has parsed them).
func (s *Server) authorizeNonResource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.isResourcePath(r.URL.Path) {
			if err := s.authorize(r, nil); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
