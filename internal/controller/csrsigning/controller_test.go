package csrsigning

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/utils/ptr"
)

func TestSignerRules(t *testing.T) {
	node := pkix.Name{CommonName: "system:node:vm", Organization: []string{"system:nodes"}}
	u := func(us ...certificatesv1.KeyUsage) []certificatesv1.KeyUsage { return us }
	const (
		ds = certificatesv1.UsageDigitalSignature
		ke = certificatesv1.UsageKeyEncipherment
		ca = certificatesv1.UsageClientAuth
		sa = certificatesv1.UsageServerAuth
	)
	tests := []struct {
		name   string
		signer string
		req    x509.CertificateRequest
		usages []certificatesv1.KeyUsage
		want   string
	}{
		{name: "client", signer: certificatesv1.KubeAPIServerClientSignerName, req: x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, usages: u(ca, ds, ke)},
		{name: "client, any subject", signer: certificatesv1.KubeAPIServerClientSignerName, req: x509.CertificateRequest{DNSNames: []string{"x"}}, usages: u(ca)},
		{name: "client without client auth", signer: certificatesv1.KubeAPIServerClientSignerName, usages: u(ds), want: "missing required usage for client certificate: client auth"},
		{name: "client for servers", signer: certificatesv1.KubeAPIServerClientSignerName, usages: u(ca, sa), want: "invalid usage for client certificate: server auth"},
		{name: "kubelet client", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: node}, usages: u(ds, ca)},
		{name: "kubelet client, RSA usages", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: node}, usages: u(ke, ds, ca)},
		{name: "kubelet client, not a node", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice", Organization: []string{"system:nodes"}}},
			usages: u(ds, ca), want: "subject common name does not begin with system:node:"},
		{name: "kubelet client, not nodes", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:vm"}},
			usages: u(ds, ca), want: "subject organization is not system:nodes"},
		{name: "kubelet client, with a name", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: node, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}},
			usages: u(ds, ca), want: "IP subjectAltNames are not allowed"},
		{name: "kubelet client, usages", signer: certificatesv1.KubeAPIServerClientKubeletSignerName, req: x509.CertificateRequest{Subject: node},
			usages: u(ca), want: "usages did not match [client auth digital signature key encipherment]"},
		{name: "kubelet serving", signer: certificatesv1.KubeletServingSignerName, req: x509.CertificateRequest{Subject: node, DNSNames: []string{"vm"}}, usages: u(ds, ke, sa)},
		{name: "kubelet serving, no names", signer: certificatesv1.KubeletServingSignerName, req: x509.CertificateRequest{Subject: node}, usages: u(ds, sa),
			want: "DNS or IP subjectAltName is required"},
		{name: "kubelet serving, client usage", signer: certificatesv1.KubeletServingSignerName, req: x509.CertificateRequest{Subject: node, DNSNames: []string{"vm"}}, usages: u(ds, ca),
			want: "usages did not match [digital signature key encipherment server auth]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := signerRules[tt.signer](&tt.req, tt.usages)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, ok := signerRules["kubernetes.io/legacy-unknown"]; ok {
		t.Error("legacy-unknown requests cannot be made through v1 and are not signed")
	}
}

func TestDuration(t *testing.T) {
	c := &Controller{}
	tests := []struct {
		seconds *int32
		want    time.Duration
	}{
		{nil, DefaultDuration},
		{ptr.To[int32](3600), time.Hour},
		{ptr.To[int32](60), 10 * time.Minute},
		{ptr.To[int32](1 << 30), DefaultDuration},
	}
	for _, tt := range tests {
		if got := c.duration(tt.seconds); got != tt.want {
			t.Errorf("duration(%v) = %s, want %s", tt.seconds, got, tt.want)
		}
	}
}

func TestKeyUsages(t *testing.T) {
	ku, eku, err := keyUsages([]certificatesv1.KeyUsage{"client auth", "digital signature", "server auth", "client auth", "key encipherment"})
	if err != nil {
		t.Fatal(err)
	}
	if ku != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment ||
		len(eku) != 2 || eku[0] != x509.ExtKeyUsageServerAuth || eku[1] != x509.ExtKeyUsageClientAuth {
		t.Errorf("keyUsages = %v %v", ku, eku)
	}
	if _, _, err := keyUsages([]certificatesv1.KeyUsage{"flying"}); err == nil {
		t.Error("an unknown usage was accepted")
	}
}
