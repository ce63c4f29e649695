package csrcleaner

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func certExpiring(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "x"}, NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestDeadline(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(created.Add(d)) }
	cond := func(typ certificatesv1.RequestConditionType, updated time.Duration) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: typ, Status: corev1.ConditionTrue, LastUpdateTime: at(updated)}
	}
	tests := []struct {
		name       string
		conditions []certificatesv1.CertificateSigningRequestCondition
		cert       []byte
		want       time.Duration // from creation
		wantOK     bool
	}{
		{name: "pending", want: 24 * time.Hour, wantOK: true},
		{name: "approved, not issued", conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved", time.Minute)}},
		{name: "issued", conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved", time.Minute)},
			cert: certExpiring(t, created.Add(365*24*time.Hour)), want: time.Hour + time.Minute, wantOK: true},
		{name: "issued, expiring first", conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved", time.Minute)},
			cert: certExpiring(t, created.Add(20*time.Minute)), want: 20 * time.Minute, wantOK: true},
		{name: "denied", conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Denied", 2*time.Minute)}, want: time.Hour + 2*time.Minute, wantOK: true},
		{name: "failed", conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved", time.Minute), cond("Failed", 3*time.Minute)},
			want: time.Hour + 3*time.Minute, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			csr := &certificatesv1.CertificateSigningRequest{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)},
				Status: certificatesv1.CertificateSigningRequestStatus{Conditions: tt.conditions, Certificate: tt.cert}}
			got, why, ok := Deadline(csr)
			if ok != tt.wantOK || (ok && !got.Equal(created.Add(tt.want))) {
				t.Fatalf("Deadline = %s (%s), %v; want %s, %v", got, why, ok, created.Add(tt.want), tt.wantOK)
			}
		})
	}
}
