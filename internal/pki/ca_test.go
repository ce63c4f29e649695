package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadTestCA(t *testing.T) *CA {
	t.Helper()
	dir := t.TempDir()
	if _, err := Ensure(dir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", certPEM)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadCAMissing(t *testing.T) {
	if _, err := LoadCA(t.TempDir()); err == nil {
		t.Fatal("LoadCA of an empty directory succeeded")
	}
}

func TestIssueClient(t *testing.T) {
	ca := loadTestCA(t)
	now := time.Now()
	tests := []struct {
		name    string
		req     ClientRequest
		wantErr string
	}{
		{name: "user and groups", req: ClientRequest{User: "alice", Groups: []string{"dev", "ops"}, TTL: 24 * time.Hour}},
		{name: "no groups", req: ClientRequest{User: "bob", TTL: time.Hour}},
		{name: "no user", req: ClientRequest{TTL: time.Hour}, wantErr: "user name"},
		{name: "zero lifetime", req: ClientRequest{User: "alice"}, wantErr: "must be positive"},
		{name: "beyond the CA", req: ClientRequest{User: "alice", TTL: 20 * 365 * 24 * time.Hour}, wantErr: "ends after the certificate authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.IssueClient(tt.req, now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cert := parseCert(t, certPEM)
			if cert.Subject.CommonName != tt.req.User || !slices.Equal(cert.Subject.Organization, tt.req.Groups) {
				t.Errorf("subject = %v, want CN=%s O=%v", cert.Subject, tt.req.User, tt.req.Groups)
			}
			if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) || cert.IsCA {
				t.Errorf("ext key usage = %v, isCA = %v; want client auth only", cert.ExtKeyUsage, cert.IsCA)
			}
			if got := cert.NotAfter.Sub(now); got < tt.req.TTL-time.Second || got > tt.req.TTL+time.Second {
				t.Errorf("valid for %s from now, want %s", got, tt.req.TTL)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca.Cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("the certificate does not verify against the CA: %v", err)
			}
			pair, err := tls.X509KeyPair(certPEM, keyPEM)
			if err != nil {
				t.Fatalf("certificate and key do not match: %v", err)
			}
			if k, ok := pair.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
				t.Errorf("key is %T, want ECDSA P-256", pair.PrivateKey)
			}
		})
	}
}

func TestSign(t *testing.T) {
	ca := loadTestCA(t)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: "carol", Organization: []string{"dev"}},
		DNSNames:    []string{"carol.example"},
		IPAddresses: []net.IP{net.ParseIP("10.0.0.1")},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name         string
		notAfter     time.Time
		wantNotAfter time.Time
	}{
		{name: "within the CA", notAfter: now.Add(time.Hour), wantNotAfter: now.Add(time.Hour)},
		{name: "capped at the CA", notAfter: now.Add(50 * 365 * 24 * time.Hour), wantNotAfter: ca.Cert.NotAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := ca.Sign(SignRequest{Request: cr, KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, NotBefore: now.Add(-5 * time.Minute), NotAfter: tt.notAfter})
			if err != nil {
				t.Fatal(err)
			}
			cert := parseCert(t, out)
			if cert.Subject.CommonName != "carol" || !slices.Equal(cert.Subject.Organization, []string{"dev"}) ||
				!slices.Equal(cert.DNSNames, []string{"carol.example"}) || len(cert.IPAddresses) != 1 {
				t.Errorf("certificate names = %v %v %v, want the request's", cert.Subject, cert.DNSNames, cert.IPAddresses)
			}
			if !cert.NotAfter.Equal(tt.wantNotAfter.Truncate(time.Second)) {
				t.Errorf("NotAfter = %s, want %s", cert.NotAfter, tt.wantNotAfter)
			}
			if err := cert.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("not signed by the CA: %v", err)
			}
			if !cert.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
				t.Error("the certificate does not carry the request's key")
			}
		})
	}
	// A request whose signature does not match its content is refused.
	bad := *cr
	bad.Signature = slices.Clone(cr.Signature)
	bad.Signature[len(bad.Signature)-1] ^= 0xff
	if _, err := ca.Sign(SignRequest{Request: &bad, NotBefore: now, NotAfter: now.Add(time.Hour)}); err == nil {
		t.Error("a request with a broken signature was signed")
	}
}
