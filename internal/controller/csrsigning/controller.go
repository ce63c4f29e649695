// Package csrsigning is kube-controller-manager's csrsigning controller
// (pkg/controller/certificates/signer): it signs approved
// CertificateSigningRequests addressed to the kubernetes.io signers whose
// certificates the API server trusts, with peapod's cluster CA, and writes
// the certificate to status.certificate. A request a signer's rules refuse
// gets the Failed condition; requests to other signers stay pending for
// whoever implements them.
package csrsigning

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/peapod/peapod/internal/controller"
	"github.com/peapod/peapod/internal/pki"
	"github.com/peapod/peapod/internal/registry/certificates"
)

// DefaultDuration is the longest certificate signed, as
// kube-controller-manager's --cluster-signing-duration (one year); a
// request may ask for less with spec.expirationSeconds.
const DefaultDuration = 365 * 24 * time.Hour

// Upstream's local signing policy: certificates start 5 minutes in the past
// (clock skew) except that a short one (under 8 hours) still ends its full
// duration from now; no certificate is shorter than 10 minutes.
const (
	backdate    = 5 * time.Minute
	short       = 8 * time.Hour
	minDuration = 10 * time.Minute
)

// Controller signs approved requests.
type Controller struct {
	CSRs controller.Store
	CA   *pki.CA
	// Duration is the longest certificate signed (default DefaultDuration).
	Duration time.Duration
	Log      *slog.Logger
	Now      func() time.Time

	loop *controller.Loop
}

// Run signs requests until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	if c.Now == nil {
		c.Now = time.Now
	}
	c.loop = &controller.Loop{Name: "csrsigning", Log: c.Log, Sync: c.sync}
	return c.loop.Run(ctx, controller.Source{Store: c.CSRs, Handle: c.loop.QueueObject})
}

func (c *Controller) sync(ctx context.Context, key string) (time.Duration, error) {
	_, name := controller.SplitKey(key)
	obj, err := c.CSRs.Get(ctx, "", name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	if !approved(csr) || hasCondition(csr, certificatesv1.CertificateFailed) || len(csr.Status.Certificate) > 0 {
		return 0, nil
	}
	check, ok := signerRules[csr.Spec.SignerName]
	if !ok {
		return 0, nil // not one of ours: stays pending
	}
	cr, err := certificates.ParseRequest(csr.Spec.Request)
	if err != nil {
		return 0, fmt.Errorf("unable to parse csr %q: %w", csr.Name, err)
	}
	if err := check(cr, csr.Spec.Usages); err != nil {
		c.Log.Info("refusing certificate signing request", "csr", csr.Name, "signer", csr.Spec.SignerName, "err", err)
		return 0, controller.UpdateStatus(ctx, c.CSRs, "", csr.Name, csr.UID, func(o *certificatesv1.CertificateSigningRequest) {
			if len(o.Status.Certificate) > 0 || hasCondition(o, certificatesv1.CertificateFailed) {
				return
			}
			o.Status.Conditions = append(o.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateFailed, Status: corev1.ConditionTrue,
				Reason: "SignerValidationFailure", Message: err.Error(), LastUpdateTime: metav1.NewTime(c.Now()),
			})
		})
	}
	cert, err := c.sign(cr, csr.Spec.Usages, csr.Spec.ExpirationSeconds)
	if err != nil {
		return 0, fmt.Errorf("error auto signing csr %q: %w", csr.Name, err)
	}
	err = controller.UpdateStatus(ctx, c.CSRs, "", csr.Name, csr.UID, func(o *certificatesv1.CertificateSigningRequest) {
		if len(o.Status.Certificate) == 0 {
			o.Status.Certificate = cert
		}
	})
	if err == nil {
		c.Log.Info("signed certificate", "csr", csr.Name, "signer", csr.Spec.SignerName, "subject", cr.Subject.String())
	}
	return 0, err
}

// sign issues the certificate with upstream's local signing policy.
func (c *Controller) sign(cr *x509.CertificateRequest, usages []certificatesv1.KeyUsage, expirationSeconds *int32) ([]byte, error) {
	ku, eku, err := keyUsages(usages)
	if err != nil {
		return nil, err
	}
	ttl := c.duration(expirationSeconds)
	now := c.Now()
	notBefore := now.Add(-backdate)
	notAfter := notBefore.Add(ttl)
	if ttl < short {
		notAfter = now.Add(ttl)
	}
	return c.CA.Sign(pki.SignRequest{Request: cr, KeyUsage: ku, ExtKeyUsage: eku, NotBefore: notBefore, NotAfter: notAfter})
}

// duration is what a request gets: what it asks for, within 10 minutes
// and the signer's longest.
func (c *Controller) duration(expirationSeconds *int32) time.Duration {
	longest := c.Duration
	if longest == 0 {
		longest = DefaultDuration
	}
	if expirationSeconds == nil {
		return longest
	}
	return min(max(time.Duration(*expirationSeconds)*time.Second, minDuration), longest)
}

func approved(csr *certificatesv1.CertificateSigningRequest) bool {
	return hasCondition(csr, certificatesv1.CertificateApproved) && !hasCondition(csr, certificatesv1.CertificateDenied)
}

func hasCondition(csr *certificatesv1.CertificateSigningRequest, t certificatesv1.RequestConditionType) bool {
	return slices.ContainsFunc(csr.Status.Conditions, func(c certificatesv1.CertificateSigningRequestCondition) bool {
		return c.Type == t && c.Status == corev1.ConditionTrue
	})
}

// signerRules are the signers this controller implements and what each
// requires of a request. kubernetes.io/legacy-unknown is not among them:
// certificates.k8s.io/v1, the only version served, refuses requests for it.
var signerRules = map[string]func(*x509.CertificateRequest, []certificatesv1.KeyUsage) error{
	certificatesv1.KubeAPIServerClientSignerName:        apiServerClient,
	certificatesv1.KubeAPIServerClientKubeletSignerName: kubeletClient,
	certificatesv1.KubeletServingSignerName:             kubeletServing,
}

// apiServerClient: any subject, client auth required, digital signature
// and key encipherment allowed besides.
func apiServerClient(_ *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	client := false
	for _, u := range usages {
		switch u {
		case certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment:
		case certificatesv1.UsageClientAuth:
			client = true
		default:
			return fmt.Errorf("invalid usage for client certificate: %s", u)
		}
	}
	if !client {
		return fmt.Errorf("missing required usage for client certificate: %s", certificatesv1.UsageClientAuth)
	}
	return nil
}

// kubeletClient: a node's client certificate, ValidateKubeletClientCSR.
func kubeletClient(cr *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	switch {
	case !slices.Equal(cr.Subject.Organization, []string{"system:nodes"}):
		return fmt.Errorf("subject organization is not system:nodes")
	case len(cr.DNSNames) > 0:
		return fmt.Errorf("DNS subjectAltNames are not allowed")
	case len(cr.EmailAddresses) > 0:
		return fmt.Errorf("Email subjectAltNames are not allowed")
	case len(cr.IPAddresses) > 0:
		return fmt.Errorf("IP subjectAltNames are not allowed")
	case len(cr.URIs) > 0:
		return fmt.Errorf("URI subjectAltNames are not allowed")
	case !strings.HasPrefix(cr.Subject.CommonName, "system:node:"):
		return fmt.Errorf("subject common name does not begin with system:node:")
	}
	return usagesAre(usages, certificatesv1.UsageClientAuth)
}

// kubeletServing: a node's serving certificate, ValidateKubeletServingCSR.
func kubeletServing(cr *x509.CertificateRequest, usages []certificatesv1.KeyUsage) error {
	switch {
	case !slices.Equal(cr.Subject.Organization, []string{"system:nodes"}):
		return fmt.Errorf("subject organization is not system:nodes")
	case len(cr.DNSNames) == 0 && len(cr.IPAddresses) == 0:
		return fmt.Errorf("DNS or IP subjectAltName is required")
	case len(cr.EmailAddresses) > 0:
		return fmt.Errorf("Email subjectAltNames are not allowed")
	case len(cr.URIs) > 0:
		return fmt.Errorf("URI subjectAltNames are not allowed")
	}
	if err := usagesAre(usages, certificatesv1.UsageServerAuth); err != nil {
		return err
	}
	if !strings.HasPrefix(cr.Subject.CommonName, "system:node:") {
		return fmt.Errorf("subject common name does not begin with system:node:")
	}
	return nil
}

// usagesAre checks that usages are exactly digital signature, key
// encipherment (optional: not for non-RSA keys) and extended.
func usagesAre(usages []certificatesv1.KeyUsage, extended certificatesv1.KeyUsage) error {
	set := map[certificatesv1.KeyUsage]bool{}
	for _, u := range usages {
		set[u] = true
	}
	want := []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageKeyEncipherment, extended}
	slices.Sort(want)
	delete(set, certificatesv1.UsageKeyEncipherment)
	if len(set) != 2 || !set[certificatesv1.UsageDigitalSignature] || !set[extended] {
		return fmt.Errorf("usages did not match %v", want)
	}
	return nil
}
