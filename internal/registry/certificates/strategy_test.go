package certificates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/peapod/peapod/internal/identity"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/utils/ptr"
)

func testRequest(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func validCSR(req []byte) *certificatesv1.CertificateSigningRequest {
	return &certificatesv1.CertificateSigningRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "alice"},
		Spec: certificatesv1.CertificateSigningRequestSpec{Request: req, SignerName: certificatesv1.KubeAPIServerClientSignerName,
			Usages: []certificatesv1.KeyUsage{certificatesv1.UsageClientAuth}},
	}
}

func condition(t certificatesv1.RequestConditionType) certificatesv1.CertificateSigningRequestCondition {
	return certificatesv1.CertificateSigningRequestCondition{Type: t, Status: corev1.ConditionTrue}
}

func errorStrings(errs field.ErrorList) string {
	var s []string
	for _, e := range errs {
		s = append(s, e.Error())
	}
	return strings.Join(s, "\n")
}

func TestValidateCreate(t *testing.T) {
	req := testRequest(t)
	tampered := slices.Clone(req)
	// Flip a character inside the base64 body: still PEM, broken DER or signature.
	tampered[len(tampered)/2] ^= 0x01
	tests := []struct {
		name   string
		mutate func(*certificatesv1.CertificateSigningRequest)
		want   []string
	}{
		{name: "valid", mutate: func(*certificatesv1.CertificateSigningRequest) {}},
		{name: "not PEM", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = []byte("x") },
			want: []string{"spec.request: Invalid value", "PEM block type must be CERTIFICATE REQUEST"}},
		{name: "broken request", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Request = tampered },
			want: []string{"spec.request: Invalid value"}},
		{name: "no usages", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.Usages = nil },
			want: []string{"spec.usages: Required value"}},
		{name: "unknown and repeated usages", mutate: func(c *certificatesv1.CertificateSigningRequest) {
			c.Spec.Usages = []certificatesv1.KeyUsage{"client auth", "flying", "client auth"}
		}, want: []string{`spec.usages[1]: Unsupported value: "flying"`, `spec.usages[2]: Duplicate value: "client auth"`}},
		{name: "no signer", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "" },
			want: []string{"spec.signerName: Required value"}},
		{name: "unqualified signer", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "example/signer" },
			want: []string{`spec.signerName: Invalid value: "example": should be a domain with at least two segments separated by dots`}},
		{name: "legacy signer", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.SignerName = "kubernetes.io/legacy-unknown" },
			want: []string{"the legacy signerName is not allowed via this API version"}},
		{name: "short", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](599) },
			want: []string{"spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 600 seconds (10 minutes)"}},
		{name: "shortest", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Spec.ExpirationSeconds = ptr.To[int32](600) }},
		{name: "approved and denied", mutate: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition("Approved"), condition("Denied")}
		}, want: []string{`status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive`}},
		{name: "approved false", mutate: func(c *certificatesv1.CertificateSigningRequest) {
			c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{{Type: "Approved", Status: corev1.ConditionFalse}}
		}, want: []string{`status.conditions[0].status: Unsupported value: "False": supported values: "True"`}},
		{name: "bad certificate", mutate: func(c *certificatesv1.CertificateSigningRequest) { c.Status.Certificate = req },
			want: []string{`status.certificate: Invalid value: "<certificate data>": only CERTIFICATE PEM blocks are allowed, found "CERTIFICATE REQUEST"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validCSR(req)
			tt.mutate(c)
			got := errorStrings(validateCreate(c))
			if len(tt.want) == 0 && got != "" {
				t.Fatalf("unexpected errors:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("errors:\n%s\nwant one containing %q", got, w)
				}
			}
		})
	}
}

func TestPrepareForCreate(t *testing.T) {
	s := &Strategy{}
	c := validCSR(testRequest(t))
	c.Spec.Username, c.Spec.Groups = "mallory", []string{"system:masters"}
	c.Status.Conditions = []certificatesv1.CertificateSigningRequestCondition{condition("Approved")}
	ctx := identity.WithUser(context.Background(), &user.DefaultInfo{Name: "alice", UID: "u1", Groups: []string{"dev"},
		Extra: map[string][]string{"scopes": {"a"}}})
	s.PrepareForCreate(ctx, c)
	if c.Spec.Username != "alice" || c.Spec.UID != "u1" || !slices.Equal(c.Spec.Groups, []string{"dev"}) ||
		!slices.Equal(c.Spec.Extra["scopes"], certificatesv1.ExtraValue{"a"}) {
		t.Errorf("requester = %q %q %v %v, want the context's user", c.Spec.Username, c.Spec.UID, c.Spec.Groups, c.Spec.Extra)
	}
	if len(c.Status.Conditions) != 0 {
		t.Errorf("status kept: %+v", c.Status)
	}
	c = validCSR(testRequest(t))
	c.Spec.Username = "mallory"
	s.PrepareForCreate(context.Background(), c)
	if c.Spec.Username != "" {
		t.Errorf("username %q kept without an authenticated user", c.Spec.Username)
	}
}

func TestUpdates(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := &Strategy{Now: func() metav1.Time { return now }}
	req := testRequest(t)
	ctx := context.Background()
	with := func(conds ...certificatesv1.RequestConditionType) *certificatesv1.CertificateSigningRequest {
		c := validCSR(req)
		for _, t := range conds {
			c.Status.Conditions = append(c.Status.Conditions, condition(t))
		}
		return c
	}
	type write int
	const (
		main write = iota
		status
		approval
	)
	tests := []struct {
		name     string
		via      write
		old, new *certificatesv1.CertificateSigningRequest
		want     string // an error, or "" for none
		check    func(t *testing.T, c *certificatesv1.CertificateSigningRequest)
	}{
		{name: "approve", via: approval, old: with(), new: with("Approved"), check: func(t *testing.T, c *certificatesv1.CertificateSigningRequest) {
			if len(c.Status.Conditions) != 1 || !c.Status.Conditions[0].LastUpdateTime.Equal(&now) || !c.Status.Conditions[0].LastTransitionTime.Equal(&now) {
				t.Errorf("conditions %+v, want Approved stamped now", c.Status.Conditions)
			}
		}},
		{name: "deny an approved", via: approval, old: with("Approved"), new: with("Approved", "Denied"), want: "mutually exclusive"},
		{name: "remove approval", via: approval, old: with("Approved"), new: with(), want: `updates may not remove a condition of type "Approved"`},
		{name: "remove failure", via: approval, old: with("Failed"), new: with(), want: `updates may not remove a condition of type "Failed"`},
		{name: "approve through status", via: status, old: with(), new: with("Approved"), want: `updates may not add a condition of type "Approved"`},
		{name: "main ignores status", via: main, old: with(), new: with("Approved"), check: func(t *testing.T, c *certificatesv1.CertificateSigningRequest) {
			if len(c.Status.Conditions) != 0 {
				t.Errorf("main resource update changed conditions: %+v", c.Status.Conditions)
			}
		}},
		{name: "approval keeps the certificate", via: approval, old: with("Approved"), new: func() *certificatesv1.CertificateSigningRequest {
			c := with("Approved")
			c.Status.Certificate = []byte("x")
			return c
		}(), check: func(t *testing.T, c *certificatesv1.CertificateSigningRequest) {
			if len(c.Status.Certificate) != 0 {
				t.Error("approval set the certificate")
			}
		}},
		{name: "status sets a certificate", via: status, old: with("Approved"), new: func() *certificatesv1.CertificateSigningRequest {
			c := with("Approved")
			c.Status.Certificate = []byte("not pem")
			return c
		}(), want: "must contain at least one CERTIFICATE PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var errs field.ErrorList
			switch tt.via {
			case main:
				s.PrepareForUpdate(ctx, tt.new, tt.old)
				errs = s.ValidateUpdate(ctx, tt.new, tt.old)
			case status:
				s.PrepareForStatusUpdate(ctx, tt.new, tt.old)
				errs = s.ValidateStatusUpdate(ctx, tt.new, tt.old)
			case approval:
				s.PrepareForApproval(ctx, tt.new, tt.old)
				errs = s.ValidateApproval(ctx, tt.new, tt.old)
			}
			got := errorStrings(errs)
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Fatalf("errors:\n%s\nwant %q", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, tt.new)
			}
		})
	}
}

func TestAdmitCreateNames(t *testing.T) {
	s := &Strategy{}
	tests := []struct {
		name, generateName string
		want               string
	}{
		{name: "Any_Name:ok"},
		{generateName: "user-"},
		{name: "a/b", want: `Name parameter invalid: "a/b": may not contain '/'`},
		{name: "..", want: `Name parameter invalid: "..": may not be '..'`},
		{generateName: "a%", want: `Name parameter invalid: "a%": may not contain '%'`},
	}
	for _, tt := range tests {
		c := validCSR(nil)
		c.Name, c.GenerateName = tt.name, tt.generateName
		err := s.AdmitCreate(context.Background(), c)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || err.Error() != tt.want) {
			t.Errorf("AdmitCreate(%q, %q) = %v, want %q", tt.name, tt.generateName, err, tt.want)
		}
	}
}
