package registry

import (
	"context"
	"maps"
	"sync"
)

type auditAnnotationsKey struct{}

// AuditAnnotations collects the audit annotations admission records for
// one request, as k8s.io/apiserver's audit.AddAuditAnnotations does (the
// PodSecurity plugin's "pod-security.kubernetes.io/enforce-policy" and
// "pod-security.kubernetes.io/audit-violations"). The HTTP layer puts one
// in the request's context with WithAuditAnnotations and, once the request
// is served, reads Map into the request's audit event.
type AuditAnnotations struct {
	mu sync.Mutex
	m  map[string]string
}

// WithAuditAnnotations returns a context that collects audit annotations
// into a.
func WithAuditAnnotations(ctx context.Context, a *AuditAnnotations) context.Context {
	return context.WithValue(ctx, auditAnnotationsKey{}, a)
}

// AddAuditAnnotation records key=value for the request in ctx, if it
// collects them. As upstream, the first value of a key stays: a later
// different value is dropped (an update that is retried records the same
// values again).
func AddAuditAnnotation(ctx context.Context, key, value string) {
	a, ok := ctx.Value(auditAnnotationsKey{}).(*AuditAnnotations)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]string{}
	}
	if _, exists := a.m[key]; !exists {
		a.m[key] = value
	}
}

// Map returns a copy of the collected annotations.
func (a *AuditAnnotations) Map() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return maps.Clone(a.m)
}
