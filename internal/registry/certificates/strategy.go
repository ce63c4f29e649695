// Package certificates holds the API behaviour of certificates.k8s.io/v1
// CertificateSigningRequests (pkg/registry/certificates/certificates): the
// requester recorded by the server, the request immutable once made, the
// approval subresource (`kubectl certificate approve|deny`) that alone sets
// the Approved and Denied conditions, the status subresource a signer
// writes the certificate through, and the CertificateSubjectRestriction
// admission plugin.
package certificates

import (
	"context"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/peapod/peapod/internal/identity"
	"github.com/peapod/peapod/internal/registry"
)

// Strategy implements registry strategies for CertificateSigningRequests.
type Strategy struct {
	// Now stamps condition times (default time.Now).
	Now func() metav1.Time
}

// Resource returns the certificatesigningrequests resource of
// certificates.k8s.io/v1.
func Resource(s *Strategy) *registry.Resource {
	return &registry.Resource{
		Group: certificatesv1.GroupName, Version: "v1",
		Name: "certificatesigningrequests", SingularName: "certificatesigningrequest", Kind: "CertificateSigningRequest",
		ShortNames:  []string{"csr"},
		HasStatus:   true,
		HasApproval: true,
		New:         func() runtime.Object { return &certificatesv1.CertificateSigningRequest{} },
		NewList:     func() runtime.Object { return &certificatesv1.CertificateSigningRequestList{} },
		Strategy:    s,
	}
}

func (s *Strategy) now() metav1.Time {
	if s.Now != nil {
		return s.Now()
	}
	return metav1.Now()
}

// AdmitCreate refuses names that cannot be a path segment: CSR names are
// otherwise free, and kube-apiserver's storage key function refuses these.
func (s *Strategy) AdmitCreate(ctx context.Context, obj runtime.Object) error {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	name, msgs := csr.Name, path.IsValidPathSegmentName(csr.Name)
	if csr.Name == "" {
		name, msgs = csr.GenerateName, path.IsValidPathSegmentPrefix(csr.GenerateName)
	}
	if len(msgs) > 0 {
		return apierrors.NewBadRequest(fmt.Sprintf("Name parameter invalid: %q: %s", name, strings.Join(msgs, ";")))
	}
	return nil
}

// PrepareForCreate records who asks (spec.username, uid, groups and extra
// come from the authenticated user, never from the body) and clears the
// status: nobody creates an approved request.
func (s *Strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups, csr.Spec.Extra = "", "", nil, nil
	if u, ok := identity.UserFrom(ctx); ok {
		csr.Spec.Username, csr.Spec.UID, csr.Spec.Groups = u.GetName(), u.GetUID(), slices.Clone(u.GetGroups())
		if len(u.GetExtra()) > 0 {
			csr.Spec.Extra = map[string]certificatesv1.ExtraValue{}
			for k, v := range u.GetExtra() {
				csr.Spec.Extra[k] = slices.Clone(v)
			}
		}
	}
	csr.Status = certificatesv1.CertificateSigningRequestStatus{}
}

// Validate is ValidateCertificateSigningRequestCreate.
func (s *Strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validateCreate(obj.(*certificatesv1.CertificateSigningRequest))
}

// PrepareForUpdate keeps spec and status: a request changes only through
// its subresources; the main resource updates metadata.
func (s *Strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = prev.Spec
	csr.Status = prev.Status
}

// ValidateUpdate is ValidateCertificateSigningRequestUpdate.
func (s *Strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest), updateRights{})
}

// PrepareForStatusUpdate keeps the spec and the approval conditions as
// stored (adding or removing one is refused by validation), and stamps
// the times of the conditions.
func (s *Strategy) PrepareForStatusUpdate(ctx context.Context, obj, old runtime.Object) {
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	csr.Spec = prev.Spec
	keepConditions(csr, prev, certificatesv1.CertificateApproved)
	keepConditions(csr, prev, certificatesv1.CertificateDenied)
	s.stampConditions(csr, prev)
}

// ValidateStatusUpdate may set status.certificate (once).
func (s *Strategy) ValidateStatusUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest), updateRights{certificate: true})
}

// PrepareForApproval keeps everything but the conditions.
func (s *Strategy) PrepareForApproval(ctx context.Context, obj, old runtime.Object) {
	csr, prev := obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest)
	s.stampConditions(csr, prev)
	conditions := csr.Status.Conditions
	csr.Spec = prev.Spec
	csr.Status = *prev.Status.DeepCopy()
	csr.Status.Conditions = conditions
}

// ValidateApproval may add the Approved or Denied condition.
func (s *Strategy) ValidateApproval(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validateUpdate(obj.(*certificatesv1.CertificateSigningRequest), old.(*certificatesv1.CertificateSigningRequest), updateRights{approval: true})
}

// SelectableFields are metadata.name and spec.signerName.
func (s *Strategy) SelectableFields(obj runtime.Object) fields.Set {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	return fields.Set{"metadata.name": csr.Name, "spec.signerName": csr.Spec.SignerName}
}

// keepConditions puts the stored conditions of type t back in place of
// the new ones when there are as many of them (a change of their number is
// left for validation to refuse).
func keepConditions(csr, prev *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) {
	was, is := conditionIndices(prev, t), conditionIndices(csr, t)
	if len(was) != len(is) {
		return
	}
	for i, j := range was {
		csr.Status.Conditions[is[i]] = prev.Status.Conditions[j]
	}
}

func conditionIndices(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) []int {
	var out []int
	for i, c := range csr.Status.Conditions {
		if c.Type == t {
			out = append(out, i)
		}
	}
	return out
}

// stampConditions fills missing condition times: lastUpdateTime now,
// lastTransitionTime the stored one of a condition of the same type and
// status, else now.
func (s *Strategy) stampConditions(csr, prev *certificatesv1.CertificateSigningRequest) {
	now := s.now()
	for i := range csr.Status.Conditions {
		c := &csr.Status.Conditions[i]
		if c.LastUpdateTime.IsZero() {
			c.LastUpdateTime = now
		}
		if !c.LastTransitionTime.IsZero() {
			continue
		}
		c.LastTransitionTime = now
		for _, o := range prev.Status.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
				break
			}
		}
	}
}
