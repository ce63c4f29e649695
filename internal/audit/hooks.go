package audit

import (
	"context"
	"encoding/json"

	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// The annotations an authorizer records on the request's event.
const (
	DecisionAnnotation = "authorization.k8s.io/decision"
	ReasonAnnotation   = "authorization.k8s.io/reason"
	DecisionAllow      = "allow"
	DecisionForbid     = "forbid"
)

// AddAnnotation records key=value on the request's audit event; the first
// value of a key stays, as kube-apiserver's audit annotations. It does
// nothing when the request is not audited.
func AddAnnotation(ctx context.Context, key, value string) {
	rec := lockedRecord(ctx)
	if rec == nil {
		return
	}
	defer rec.mu.Unlock()
	if rec.ev.Annotations == nil {
		rec.ev.Annotations = map[string]string{}
	}
	if _, ok := rec.ev.Annotations[key]; !ok {
		rec.ev.Annotations[key] = value
	}
}

// LogImpersonatedUser is the impersonation filter's hook: the request
// acts as u (the event's user stays the authenticated one).
func LogImpersonatedUser(ctx context.Context, u *authnv1.UserInfo) {
	rec := lockedRecord(ctx)
	if rec == nil {
		return
	}
	defer rec.mu.Unlock()
	rec.ev.ImpersonatedUser = u
}

// LogAuthorizationDecision is the authorizer's hook: decision is
// DecisionAllow or DecisionForbid, reason the authorizer's (may be empty).
func LogAuthorizationDecision(ctx context.Context, decision, reason string) {
	AddAnnotation(ctx, DecisionAnnotation, decision)
	AddAnnotation(ctx, ReasonAnnotation, reason)
}

// LogRequestObject is the API server's hook for each object it decodes
// from a request body (gvk is the object's kind, set on the event's copy
// when the object lacks it). It completes objectRef (the name of a
// created object, uid and resourceVersion) and, at level Request and
// above, becomes the event's requestObject.
func LogRequestObject(ctx context.Context, obj runtime.Object, gvk schema.GroupVersionKind) {
	rec := lockedRecord(ctx)
	if rec == nil {
		return
	}
	defer rec.mu.Unlock()
	if !rec.authenticated || rec.decision.Level == auditv1.LevelNone {
		return
	}
	if acc, err := meta.Accessor(obj); err == nil {
		if rec.ev.ObjectRef == nil {
			rec.ev.ObjectRef = &auditv1.ObjectReference{}
		}
		ref := rec.ev.ObjectRef
		if ref.Namespace == "" {
			ref.Namespace = acc.GetNamespace()
		}
		if ref.Name == "" {
			ref.Name = acc.GetName()
		}
		if ref.UID == "" {
			ref.UID = acc.GetUID()
		}
		if ref.ResourceVersion == "" {
			ref.ResourceVersion = acc.GetResourceVersion()
		}
	}
	if !levelAbove(rec.decision.Level, auditv1.LevelMetadata) {
		return
	}
	if obj.GetObjectKind().GroupVersionKind().Empty() {
		obj = obj.DeepCopyObject()
		obj.GetObjectKind().SetGroupVersionKind(gvk)
	}
	if data, err := json.Marshal(obj); err == nil {
		rec.requestObject = data
	}
}

// LogResponseObject is the API server's hook for each object it answers
// with: a Status becomes the event's responseStatus, and at level
// RequestResponse the object is its responseObject.
func LogResponseObject(ctx context.Context, obj runtime.Object) {
	rec := lockedRecord(ctx)
	if rec == nil {
		return
	}
	defer rec.mu.Unlock()
	// Refused by authentication: the event says only that.
	if !rec.authenticated || rec.decision.Level == auditv1.LevelNone {
		return
	}
	if st, ok := obj.(*metav1.Status); ok {
		rec.status = st.DeepCopy()
	}
	rec.responseLogged = true
	if rec.decision.Level == auditv1.LevelRequestResponse && !rec.longRunning {
		if data, err := json.Marshal(obj); err == nil {
			rec.responseObject = data
		}
	}
}

// lockedRecord returns the request's audit record, locked, or nil when the
// request is not audited.
func lockedRecord(ctx context.Context) *record {
	rec, _ := ctx.Value(recordKey{}).(*record)
	if rec != nil {
		rec.mu.Lock()
	}
	return rec
}
