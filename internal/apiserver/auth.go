package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/peapod/peapod/internal/audit"
	"github.com/peapod/peapod/internal/identity"
	"github.com/peapod/peapod/internal/satoken"
)

// TokenAuthenticator checks bearer tokens (service-account JWTs).
type TokenAuthenticator interface {
	Authenticate(ctx context.Context, token string) (*satoken.Identity, error)
}

// Authorizer decides requests (RBAC behind the privileged group) and
// lists what a user may do, for access reviews.
type Authorizer interface {
	Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error)
	RulesFor(ctx context.Context, u user.Info, ns string) ([]rbacv1.PolicyRule, error)
}

// User is who a request comes from, as k8s.io/apiserver's user.Info.
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

// info returns u as a user.Info.
func (u *User) info() user.Info {
	return &user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.Extra}
}

func userOf(i user.Info) *User {
	return &User{Name: i.GetName(), UID: i.GetUID(), Groups: i.GetGroups(), Extra: i.GetExtra()}
}

type userKey struct{}

// UserFrom returns the user a request acts as (after impersonation).
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok
}

// withUser sets the user of a request for this package and for the
// registry (package identity).
func withUser(ctx context.Context, u *User) context.Context {
	return identity.WithUser(context.WithValue(ctx, userKey{}, u), u.info())
}

// authenticate admits requests that present a client certificate signed by
// the cluster CA (verified by TLS; CN is the user, O the groups) or a valid
// service-account bearer token, as kube-apiserver's authenticators do;
// others are refused (401) unless anonymous requests are enabled, in which
// case they are system:anonymous and RBAC decides (upstream binds only
// system:public-info-viewer to system:unauthenticated).
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := s.userOf(r)
		if err != nil {
			s.log.Debug("authentication failed", "uri", r.URL.RequestURI(), "err", err)
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		if u != nil {
			r = r.WithContext(withUser(r.Context(), u))
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) userOf(r *http.Request) (*User, error) {
	// As kube-apiserver's union of authenticators: the client
	// certificate first (one without a common name authenticates
	// nobody), then a bearer token ("Bearer" in any case).
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && r.TLS.VerifiedChains[0][0].Subject.CommonName != "" {
		cert := r.TLS.VerifiedChains[0][0]
		groups := append(slices.Clone(cert.Subject.Organization), user.AllAuthenticated)
		return &User{Name: cert.Subject.CommonName, Groups: groups}, nil
	}
	if scheme, raw, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") && s.tokens != nil {
		return s.tokenUser(r.Context(), strings.TrimSpace(raw))
	}
	if s.anonymous {
		return &User{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}, nil
	}
	if s.requireCert {
		return nil, fmt.Errorf("no client certificate or bearer token")
	}
	return nil, nil
}

// tokenUser is the user of a service-account token.
func (s *Server) tokenUser(ctx context.Context, token string) (*User, error) {
	id, err := s.tokens.Authenticate(ctx, token)
	if err != nil {
		return nil, err
	}
	u := &User{
		Name:   satoken.Username(id.Namespace, id.ServiceAccount.Name),
		UID:    string(id.ServiceAccount.UID),
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, user.AllAuthenticated},
		Extra:  map[string][]string{"authentication.kubernetes.io/credential-id": {"JTI=" + id.ID}},
	}
	if id.Pod != nil {
		u.Extra["authentication.kubernetes.io/pod-name"] = []string{id.Pod.Name}
		u.Extra["authentication.kubernetes.io/pod-uid"] = []string{string(id.Pod.UID)}
	}
	return u, nil
}

// attributesOf is what a request asks, for the authorizer
// (k8s.io/apiserver's RequestInfo turned into Attributes): a list or watch
// of one name through a metadata.name field selector names that object,
// so that resourceNames rules apply to `kubectl get pod x -w`.
func attributesOf(r *http.Request, u *User) authorizer.AttributesRecord {
	a := authorizer.AttributesRecord{User: u.info(), Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	info, ok := parseRequestInfo(r)
	if !ok {
		return a
	}
	a.ResourceRequest = true
	a.Verb, a.APIGroup, a.APIVersion = info.Verb, info.Group, info.Version
	a.Namespace, a.Resource, a.Subresource, a.Name = info.Namespace, info.Resource, info.Subresource, info.Name
	// A namespace is in itself: a RoleBinding in team lets its subjects
	// get namespace team.
	if info.Group == "" && info.Resource == "namespaces" && info.Name != "" {
		a.Namespace = info.Name
	}
	if (info.Verb == "list" || info.Verb == "watch") && info.Name == "" {
		if sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector")); err == nil {
			if name, found := sel.RequiresExactMatch("metadata.name"); found {
				a.Name = name
			}
		}
	}
	return a
}

// authorize decides every request before anything else is done for it
// (resource or not, streams and the metrics API included), as
// kube-apiserver's authorization filter. Requests without a user are
// in-process tests' (RequireClientCert off).
func (s *Server) authorize(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, ok := UserFrom(r.Context())
		if !ok || s.authorizer == nil {
			next.ServeHTTP(w, r)
			return
		}
		a := attributesOf(r, u)
		decision, reason, err := s.authorizer.Authorize(r.Context(), a)
		if decision == authorizer.DecisionAllow && upgradesToStream(a) {
			// A WebSocket exec, attach or port-forward is a GET; as
			// kube-apiserver 1.35 (AuthorizePodWebsocketUpgradeCreatePermission)
			// it also needs create, as the POST does.
			a.Verb = "create"
			decision, reason, err = s.authorizer.Authorize(r.Context(), a)
		}
		if decision == authorizer.DecisionAllow {
			audit.LogAuthorizationDecision(r.Context(), audit.DecisionAllow, reason)
			next.ServeHTTP(w, r)
			return
		}
		audit.LogAuthorizationDecision(r.Context(), audit.DecisionForbid, reason)
		if err != nil {
			s.log.Warn("authorization failed", "uri", r.URL.RequestURI(), "user", u.Name, "err", err)
		}
		s.log.Debug("forbidden", "uri", r.URL.RequestURI(), "user", u.Name, "verb", a.Verb, "reason", reason)
		s.writeError(w, r, forbidden(a, reason))
	})
}

// upgradesToStream: a GET of pods/exec, attach or portforward.
func upgradesToStream(a authorizer.AttributesRecord) bool {
	return a.ResourceRequest && a.Verb == "get" && a.APIGroup == "" && a.Resource == "pods" &&
		(a.Subresource == "exec" || a.Subresource == "attach" || a.Subresource == "portforward")
}

// sanitize escapes what a browser would take for markup, as upstream's
// forbidden messages do.
var sanitize = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// forbidden is upstream's responsewriters.Forbidden: NewForbidden of the
// resource (without its subresource) and name, or of nothing for a path.
func forbidden(a authorizer.Attributes, reason string) error {
	msg := sanitize.Replace(forbiddenMessage(a))
	if reason != "" {
		msg += ": " + reason
	}
	gr := schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()}
	return apierrors.NewForbidden(gr, a.GetName(), errors.New(msg))
}

// forbiddenMessage is upstream's authorizer message: `User "alice" cannot
// list resource "pods" in API group "" in the namespace "default"`.
func forbiddenMessage(a authorizer.Attributes) string {
	who := fmt.Sprintf("User %q ", a.GetUser().GetName())
	if !a.IsResourceRequest() {
		return who + fmt.Sprintf("cannot %s path %q", a.GetVerb(), a.GetPath())
	}
	resource := a.GetResource()
	if a.GetSubresource() != "" {
		resource += "/" + a.GetSubresource()
	}
	if ns := a.GetNamespace(); ns != "" {
		return who + fmt.Sprintf("cannot %s resource %q in API group %q in the namespace %q", a.GetVerb(), resource, a.GetAPIGroup(), ns)
	}
	return who + fmt.Sprintf("cannot %s resource %q in API group %q at the cluster scope", a.GetVerb(), resource, a.GetAPIGroup())
}
