package apiserver

import (
	"net/http"
	"strings"

	authnv1 "k8s.io/api/authentication/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/peapod/peapod/internal/audit"
)

// describeForAudit tells the audit log who makes a request and what it is
// (before impersonation, which records the user acted as with
// audit.LogImpersonatedUser).
func (s *Server) describeForAudit(r *http.Request) (audit.Attributes, *authnv1.UserInfo) {
	a := audit.Attributes{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	if u, ok := UserFrom(r.Context()); ok {
		a.User = userInfo(u)
	}
	if info, ok := parseRequestInfo(r); ok {
		a.Verb = info.Verb
		a.Resource = &auditv1.ObjectReference{Resource: info.Resource, Namespace: info.Namespace, Name: info.Name,
			APIGroup: info.Group, APIVersion: info.Version, Subresource: info.Subresource}
	}
	return a, nil
}

func userInfo(u *User) *authnv1.UserInfo {
	info := &authnv1.UserInfo{Username: u.Name, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		info.Extra = make(map[string]authnv1.ExtraValue, len(u.Extra))
		for k, v := range u.Extra {
			info.Extra[k] = v
		}
	}
	return info
}
