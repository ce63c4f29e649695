// Package identity carries who a request acts as (k8s.io/apiserver's
// user.Info) through a context, from the API server's authentication (and
// impersonation) to the registry's admission steps that decide by user:
// RBAC escalation prevention and the requestor of a
// CertificateSigningRequest. In-process writers (controllers, the
// kubelet) carry no user.
package identity

import (
	"context"
	"slices"

	"k8s.io/apiserver/pkg/authentication/user"
)

type userKey struct{}

// WithUser returns ctx carrying u.
func WithUser(ctx context.Context, u user.Info) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user of ctx; ok is false for in-process callers.
func UserFrom(ctx context.Context) (user.Info, bool) {
	u, ok := ctx.Value(userKey{}).(user.Info)
	return u, ok && u != nil
}

// IsPrivileged reports whether u is in system:masters, the group that
// kube-apiserver's privileged-group authorizer allows everything and for
// which RBAC escalation checks do not apply.
func IsPrivileged(u user.Info) bool {
	return slices.Contains(u.GetGroups(), user.SystemPrivilegedGroup)
}
