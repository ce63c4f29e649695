package apiserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/peapod/peapod/internal/audit"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// impersonate lets a request act as another user, as kube-apiserver's
// impersonation filter: each Impersonate-User, -Group, -Uid and -Extra-*
// header must be allowed by the `impersonate` verb on users (or the
// service account), groups, uids and userextras; the request then goes
// on as that user, who is system:authenticated (service accounts also get
// their groups when none are asked for).
func (s *Server) impersonate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header
		name := h.Get(authenticationv1.ImpersonateUserHeader)
		groups := h.Values(authenticationv1.ImpersonateGroupHeader)
		uid := h.Get(authenticationv1.ImpersonateUIDHeader)
		extra := map[string][]string{}
		for k, v := range h {
			if rest, ok := strings.CutPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix); ok && rest != "" {
				key, err := url.PathUnescape(rest)
				if err != nil {
					s.writeError(w, r, apierrors.NewBadRequest("malformed impersonate extra header "+k))
					return
				}
				extra[strings.ToLower(key)] = v
			}
		}
		if name == "" {
			if len(groups) > 0 || uid != "" || len(extra) > 0 {
				s.writeError(w, r, apierrors.NewBadRequest("requested impersonation of groups, uid or extra without impersonating a user"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		actor, ok := UserFrom(r.Context())
		if !ok {
			s.writeError(w, r, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		// What must be allowed, in upstream's order: the user (or
		// service account), each group, each extra value, the uid.
		var checks []authorizer.AttributesRecord
		userCheck := authorizer.AttributesRecord{Verb: "impersonate", Resource: "users", Name: name, ResourceRequest: true}
		if ns, sa, err := serviceaccount.SplitUsername(name); err == nil {
			userCheck.Resource, userCheck.Namespace, userCheck.Name = "serviceaccounts", ns, sa
			if len(groups) == 0 {
				groups = serviceaccount.MakeGroupNames(ns)
			}
		}
		checks = append(checks, userCheck)
		for _, g := range h.Values(authenticationv1.ImpersonateGroupHeader) {
			checks = append(checks, authorizer.AttributesRecord{Verb: "impersonate", Resource: "groups", Name: g, ResourceRequest: true})
		}
		for k, vs := range extra {
			for _, v := range vs {
				checks = append(checks, authorizer.AttributesRecord{Verb: "impersonate", APIGroup: "authentication.k8s.io",
					Resource: "userextras", Subresource: k, Name: v, ResourceRequest: true})
			}
		}
		if uid != "" {
			checks = append(checks, authorizer.AttributesRecord{Verb: "impersonate", APIGroup: "authentication.k8s.io",
				Resource: "uids", Name: uid, ResourceRequest: true})
		}
		for _, c := range checks {
			c.User = actor.info()
			if s.authorizer == nil {
				break
			}
			if d, reason, _ := s.authorizer.Authorize(r.Context(), c); d != authorizer.DecisionAllow {
				s.writeError(w, r, forbidden(c, reason))
				return
			}
		}
		switch {
		case name != user.Anonymous && !slices.Contains(groups, user.AllAuthenticated) && !slices.Contains(groups, user.AllUnauthenticated):
			groups = append(slices.Clone(groups), user.AllAuthenticated)
		case name == user.Anonymous && !slices.Contains(groups, user.AllUnauthenticated):
			groups = append(slices.Clone(groups), user.AllUnauthenticated)
		}
		as := &User{Name: name, UID: uid, Groups: groups}
		if len(extra) > 0 {
			as.Extra = extra
		}
		audit.LogImpersonatedUser(r.Context(), userInfo(as))
		r = r.Clone(withUser(r.Context(), as))
		for k := range r.Header {
			if strings.HasPrefix(k, "Impersonate-") {
				r.Header.Del(k)
			}
		}
		next.ServeHTTP(w, r)
	})
}
