package printers

import (
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Upstream's CertificateSigningRequest columns.
var certificateSigningRequestColumns = []metav1.TableColumnDefinition{
	nameColumn,
	ageColumn,
	{Name: "SignerName", Type: "string", Description: "The signer the request is addressed to."},
	{Name: "Requestor", Type: "string", Description: "Name of the user that created the request."},
	{Name: "RequestedDuration", Type: "string", Description: "The validity the request asks for (spec.expirationSeconds)."},
	{Name: "Condition", Type: "string", Description: "The state of the request: Pending, Approved or Denied, then Failed and Issued."},
}

func printCertificateSigningRequest(obj runtime.Object, now time.Time) ([]interface{}, []metav1.TableRowCondition) {
	csr := obj.(*certificatesv1.CertificateSigningRequest)
	signer, requested := "<none>", "<none>"
	if csr.Spec.SignerName != "" {
		signer = csr.Spec.SignerName
	}
	if e := csr.Spec.ExpirationSeconds; e != nil {
		requested = duration.HumanDuration(time.Duration(*e) * time.Second)
	}
	return []interface{}{csr.Name, age(csr.CreationTimestamp, now), signer, csr.Spec.Username, requested, csrCondition(csr)}, nil
}

// csrCondition is the CONDITION column: Denied wins over Approved, which
// wins over Pending; Failed and Issued follow.
func csrCondition(csr *certificatesv1.CertificateSigningRequest) string {
	var approved, denied, failed bool
	for _, c := range csr.Status.Conditions {
		switch c.Type {
		case certificatesv1.CertificateApproved:
			approved = true
		case certificatesv1.CertificateDenied:
			denied = true
		case certificatesv1.CertificateFailed:
			failed = true
		}
	}
	s := "Pending"
	if denied {
		s = "Denied"
	} else if approved {
		s = "Approved"
	}
	if failed {
		s += ",Failed"
	}
	if len(csr.Status.Certificate) > 0 {
		s += ",Issued"
	}
	return s
}
