package serviceaccount

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/satoken"
)

// Token expiry bounds of the TokenRequest API (pkg/apis/authentication
// validation and the v1 default).
const (
	DefaultTokenSeconds = 3600
	minTokenSeconds     = 10 * 60
	maxTokenSeconds     = 1 << 32
)

// TokenREST serves serviceaccounts/token (TokenRequest), as upstream's
// pkg/registry/core/serviceaccount/storage/token.go.
type TokenREST struct {
	Issuer  *satoken.Issuer
	Objects satoken.Getter
}

var tokenRequestGK = schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}

// Create issues a token for the service account ns/name.
func (t *TokenREST) Create(ctx context.Context, ns, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	if req.Spec.ExpirationSeconds == nil {
		s := int64(DefaultTokenSeconds)
		req.Spec.ExpirationSeconds = &s
	}
	if errs := validateTokenRequest(req); len(errs) > 0 {
		return nil, apierrors.NewInvalid(tokenRequestGK, "", errs)
	}
	sa, err := t.Objects.ServiceAccount(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	claims := satoken.Claims{Namespace: ns, ServiceAccount: satoken.Ref{Name: sa.Name, UID: sa.UID}}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		if err := t.bind(ctx, ns, ref, &claims); err != nil {
			return nil, err
		}
	}
	if len(req.Spec.Audiences) == 0 {
		req.Spec.Audiences = t.Issuer.APIAudiences()
	}
	tok, err := t.Issuer.Issue(satoken.Request{Claims: claims, Audiences: req.Spec.Audiences,
		TTL: time.Duration(*req.Spec.ExpirationSeconds) * time.Second})
	if err != nil {
		return nil, err
	}
	out := req.DeepCopy()
	out.Namespace, out.Name = ns, name
	out.Status = authenticationv1.TokenRequestStatus{Token: tok.Token, ExpirationTimestamp: metav1.NewTime(tok.Expiry)}
	return out, nil
}

// bind checks the object the token is to be bound to and records it.
func (t *TokenREST) bind(ctx context.Context, ns string, ref *authenticationv1.BoundObjectReference, claims *satoken.Claims) error {
	var uid types.UID
	var gr schema.GroupResource
	switch ref.Kind {
	case "Pod":
		pod, err := t.Objects.Pod(ctx, ns, ref.Name)
		if err != nil {
			return err
		}
		uid, gr = pod.UID, corev1.Resource("pods")
		claims.Pod = &satoken.Ref{Name: pod.Name, UID: pod.UID}
	case "Secret":
		secret, err := t.Objects.Secret(ctx, ns, ref.Name)
		if err != nil {
			return err
		}
		uid, gr = secret.UID, corev1.Resource("secrets")
		claims.Secret = &satoken.Ref{Name: secret.Name, UID: secret.UID}
	default:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot bind token for object of kind %q (supported: Pod, Secret)", ref.Kind))
	}
	if ref.UID != "" && ref.UID != uid {
		return apierrors.NewConflict(gr, ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	return nil
}

func validateTokenRequest(req *authenticationv1.TokenRequest) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("spec", "expirationSeconds")
	switch s := *req.Spec.ExpirationSeconds; {
	case s < minTokenSeconds:
		errs = append(errs, field.Invalid(p, s, "may not specify a duration less than 10 minutes"))
	case s > maxTokenSeconds:
		errs = append(errs, field.Invalid(p, s, "may not specify a duration larger than 2^32 seconds"))
	}
	if ref := req.Spec.BoundObjectRef; ref != nil {
		bp := field.NewPath("spec", "boundObjectRef")
		if ref.APIVersion != "" && ref.APIVersion != "v1" {
			errs = append(errs, field.NotSupported(bp.Child("apiVersion"), ref.APIVersion, []string{"v1"}))
		}
		if ref.Name == "" {
			errs = append(errs, field.Required(bp.Child("name"), ""))
		}
	}
	return errs
}
