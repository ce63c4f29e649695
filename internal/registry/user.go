package registry

import "context"

// User is who a request comes from, as the API server authenticated it
// (k8s.io/apiserver's user.Info), for strategies that record the requester
// (a CertificateSigningRequest's spec.username, groups...).
type User struct {
	Name   string
	UID    string
	Groups []string
	Extra  map[string][]string
}

type userKey struct{}

// WithUser returns ctx carrying the requesting user.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the requesting user of ctx; ok is false for requests
// from inside peapod (controllers, the kubelet).
func UserFrom(ctx context.Context) (u User, ok bool) {
	u, ok = ctx.Value(userKey{}).(User)
	return u, ok
}
