package printers

import (
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPrintCertificateSigningRequest(t *testing.T) {
	now := time.Now()
	cond := func(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
		return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: "True"}
	}
	tests := []struct {
		name      string
		csr       certificatesv1.CertificateSigningRequest
		requested string
		condition string
	}{
		{name: "pending", requested: "<none>", condition: "Pending"},
		{name: "issued", csr: certificatesv1.CertificateSigningRequest{
			Spec:   certificatesv1.CertificateSigningRequestSpec{ExpirationSeconds: ptr.To[int32](86400)},
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved")}, Certificate: []byte("c")},
		}, requested: "24h", condition: "Approved,Issued"},
		{name: "failed", csr: certificatesv1.CertificateSigningRequest{
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved"), cond("Failed")}},
		}, requested: "<none>", condition: "Approved,Failed"},
		{name: "denied wins", csr: certificatesv1.CertificateSigningRequest{
			Status: certificatesv1.CertificateSigningRequestStatus{Conditions: []certificatesv1.CertificateSigningRequestCondition{cond("Approved"), cond("Denied")}},
		}, requested: "<none>", condition: "Denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.csr.Name = "r"
			tt.csr.CreationTimestamp = metav1.NewTime(now.Add(-time.Hour))
			tt.csr.Spec.SignerName = "example.com/s"
			tt.csr.Spec.Username = "alice"
			cells, _ := printCertificateSigningRequest(&tt.csr, now)
			want := []interface{}{"r", "60m", "example.com/s", "alice", tt.requested, tt.condition}
			for i := range want {
				if cells[i] != want[i] {
					t.Fatalf("cells = %v, want %v", cells, want)
				}
			}
		})
	}
}
