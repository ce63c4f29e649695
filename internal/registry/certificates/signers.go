package certificates

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/peapod/peapod/internal/identity"
	"github.com/peapod/peapod/internal/registry"
)

// Authorizer decides a request (the API server's authorizer).
type Authorizer interface {
	Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error)
}

// SignerAuthorization is kube-apiserver's CertificateApproval and
// CertificateSigning admission plugins: writing the approval subresource
// needs the `approve` verb, and setting status.certificate the `sign`
// verb, on the request's signer (resource signers of certificates.k8s.io,
// named by the signer or by its domain and "/*"), besides the update
// RBAC checks on the subresource itself. In-process writers (the
// signing controller) are not checked.
type SignerAuthorization struct {
	Authorizer Authorizer
}

// Mutate does nothing.
func (SignerAuthorization) Mutate(context.Context, *registry.Resource, string, runtime.Object) error {
	return nil
}

// Validate does nothing on create.
func (SignerAuthorization) Validate(context.Context, *registry.Resource, string, runtime.Object) (func(bool), error) {
	return nil, nil
}

// ValidateEveryUpdate checks approval and signing.
func (p SignerAuthorization) ValidateEveryUpdate(ctx context.Context, res *registry.Resource, _, subresource string, obj, old runtime.Object) error {
	u, ok := identity.UserFrom(ctx)
	if !ok || p.Authorizer == nil {
		return nil
	}
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	verb := ""
	switch {
	case subresource == "approval":
		verb = "approve"
	case subresource == "status" && !bytes.Equal(csr.Status.Certificate, prev.Status.Certificate):
		verb = "sign"
	default:
		return nil
	}
	if p.allowed(ctx, u, verb, csr.Spec.SignerName) {
		return nil
	}
	return apierrors.NewForbidden(res.GroupResource(), csr.Name, fmt.Errorf("user not permitted to %s requests with signerName %q", verb, csr.Spec.SignerName))
}

// allowed: the verb on the signer, or on every signer of its domain.
func (p SignerAuthorization) allowed(ctx context.Context, u user.Info, verb, signer string) bool {
	names := []string{signer}
	if domain, _, ok := strings.Cut(signer, "/"); ok {
		names = append(names, domain+"/*")
	}
	for _, name := range names {
		d, _, _ := p.Authorizer.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: certificatesv1.GroupName,
			Resource: "signers", Name: name, ResourceRequest: true})
		if d == authorizer.DecisionAllow {
			return true
		}
	}
	return false
}
