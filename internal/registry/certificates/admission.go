package certificates

import (
	"context"
	"fmt"
	"slices"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/peapod/peapod/internal/registry"
)

// SubjectRestriction is kube-apiserver's CertificateSubjectRestriction
// admission plugin: a request to the kube-apiserver-client signer may not
// name the group system:masters, whose members bypass authorization.
type SubjectRestriction struct{}

// Mutate does nothing.
func (SubjectRestriction) Mutate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) error {
	return nil
}

// Validate refuses a kube-apiserver-client request for system:masters.
func (SubjectRestriction) Validate(ctx context.Context, res *registry.Resource, ns string, obj runtime.Object) (func(bool), error) {
	csr, ok := obj.(*certificatesv1.CertificateSigningRequest)
	if !ok || csr.Spec.SignerName != certificatesv1.KubeAPIServerClientSignerName {
		return nil, nil
	}
	cr, err := ParseRequest(csr.Spec.Request)
	if err != nil {
		return nil, apierrors.NewForbidden(res.GroupResource(), csr.Name, fmt.Errorf("failed to parse CSR: %w", err))
	}
	if slices.Contains(cr.Subject.Organization, "system:masters") {
		return nil, apierrors.NewForbidden(res.GroupResource(), csr.Name,
			fmt.Errorf("use of %s signer with system:masters group is not allowed", certificatesv1.KubeAPIServerClientSignerName))
	}
	return nil, nil
}
