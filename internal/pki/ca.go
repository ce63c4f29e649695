package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"time"
)

// CA is the cluster's certificate authority loaded with its key, to sign
// client certificates after first start (`peapod kubeconfig`, the
// CertificateSigningRequest signer).
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// LoadCA reads the certificate authority Ensure created in dir.
func LoadCA(dir string) (*CA, error) {
	certPEM, keyPEM, err := readPair(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("reading the certificate authority: %w", err)
	}
	cert, key, err := parsePair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate authority in %s: %w", dir, err)
	}
	return &CA{Cert: cert, CertPEM: certPEM, key: key}, nil
}

// ClientRequest is what a client certificate says: the user (subject CN),
// the groups (subject O) and how long it is valid from now.
type ClientRequest struct {
	User   string
	Groups []string
	TTL    time.Duration
}

// IssueClient generates an ECDSA P-256 key and a client certificate for
// req signed by the CA, both PEM. It refuses a certificate that would
// outlive the CA, as it could not be verified then anyway.
func (ca *CA) IssueClient(req ClientRequest, now time.Time) (certPEM, keyPEM []byte, err error) {
	if req.User == "" {
		return nil, nil, errors.New("a client certificate needs a user name")
	}
	if req.TTL <= 0 {
		return nil, nil, fmt.Errorf("the certificate's lifetime must be positive, not %s", req.TTL)
	}
	if end := now.Add(req.TTL); end.After(ca.Cert.NotAfter) {
		return nil, nil, fmt.Errorf("a lifetime of %s ends after the certificate authority does (%s, in %s)",
			req.TTL, ca.Cert.NotAfter.UTC().Format(time.RFC3339), ca.Cert.NotAfter.Sub(now).Truncate(time.Hour))
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: req.User, Organization: req.Groups},
		NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(req.TTL),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("signing the client certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// SignRequest is what the CA puts in a certificate for a signing request:
// the request's subject, names and key, the given usages and a validity
// from NotBefore to NotAfter.
type SignRequest struct {
	Request     *x509.CertificateRequest
	KeyUsage    x509.KeyUsage
	ExtKeyUsage []x509.ExtKeyUsage
	NotBefore   time.Time
	NotAfter    time.Time
}

// Sign signs a certificate signing request whose signature was checked,
// as kube-controller-manager's local signer does: subject and subject
// alternative names from the request, no other extension of it, not a CA,
// and never valid beyond the CA itself. It returns the certificate, PEM.
func (ca *CA) Sign(req SignRequest) ([]byte, error) {
	if err := req.Request.CheckSignature(); err != nil {
		return nil, fmt.Errorf("unable to verify certificate request signature: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	notAfter := req.NotAfter
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	cr := req.Request
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: cr.Subject,
		DNSNames: cr.DNSNames, IPAddresses: cr.IPAddresses, EmailAddresses: cr.EmailAddresses, URIs: cr.URIs,
		NotBefore: req.NotBefore, NotAfter: notAfter,
		KeyUsage: req.KeyUsage, ExtKeyUsage: req.ExtKeyUsage,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, cr.PublicKey, ca.key)
	if err != nil {
		return nil, fmt.Errorf("failed to sign certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
