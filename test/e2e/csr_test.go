package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// kubectlWith runs kubectl of version with another kubeconfig than the
// admin's.
func kubectlWith(d *daemon, version, kubeconfig string, args ...string) (string, string, error) {
	cmd := exec.Command(kubectls[version], args...)
	cmd.Env = []string{"KUBECONFIG=" + kubeconfig, "HOME=" + d.dir, "PATH=" + os.Getenv("PATH")}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// assertAuthenticated checks the API takes kubeconfig's credentials: a
// request may be refused (403 once RBAC decides) but not as
// unauthenticated (401).
func assertAuthenticated(t *testing.T, d *daemon, version, kubeconfig string, want bool) {
	t.Helper()
	out, errOut, err := kubectlWith(d, version, kubeconfig, "get", "namespaces", "-o", "name")
	// kubectl words a 401 this way.
	unauthorized := strings.Contains(errOut, "You must be logged in to the server")
	if want && (unauthorized || (err != nil && !strings.Contains(errOut, "Forbidden"))) {
		t.Fatalf("kubectl %s with %s: %v\nstdout: %s\nstderr: %s", version, filepath.Base(kubeconfig), err, out, errOut)
	}
	if !want && !unauthorized {
		t.Fatalf("kubectl %s with %s was not refused as Unauthorized: %v\nstdout: %s\nstderr: %s", version, filepath.Base(kubeconfig), err, out, errOut)
	}
}

func parsePEMCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", data)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCSR returns a PEM key and certificate signing request for subject.
func newCSR(t *testing.T, cn string, orgs ...string) (keyPEM, csrPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func csrManifest(name string, request []byte, signer, extra string, usages ...string) string {
	return fmt.Sprintf(`apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata:
  name: %s
spec:
  request: %s
  signerName: %s
  usages: [%s]
%s`, name, base64.StdEncoding.EncodeToString(request), signer, strings.Join(usages, ", "), extra)
}

// withUser writes a kubeconfig of the admin's cluster with another
// client certificate (or, without one, a bearer token nobody issued).
func withUser(t *testing.T, d *daemon, path string, certPEM, keyPEM []byte) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(d.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		ai.ClientCertificateData, ai.ClientKeyData = certPEM, keyPEM
		if certPEM == nil {
			ai.Token = "not-a-token"
		}
	}
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
}

func TestUserKubeconfigAndCSR(t *testing.T) {
	d := startDaemon(t)
	const client = "kubernetes.io/kube-apiserver-client"
	for _, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			sfx := strings.ReplaceAll(v, ".", "")

			// Without valid credentials the API answers 401: the check
			// below tells accepted certificates apart.
			anon := d.path("anonymous-" + sfx + ".kubeconfig")
			withUser(t, d, anon, nil, nil)
			assertAuthenticated(t, d, v, anon, false)

			// peapod kubeconfig: a certificate for alice in dev.
			alice := d.path("alice-" + sfx + ".kubeconfig")
			if out, err := exec.Command(peapodBin, "kubeconfig", "--data-dir", d.path("data"), "--kubeconfig", d.kubeconfig,
				"--user", "alice", "--group", "dev", "--namespace", "demo", "-o", alice).CombinedOutput(); err != nil {
				t.Fatalf("peapod kubeconfig: %v\n%s", err, out)
			}
			if fi, err := os.Stat(alice); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("kubeconfig file: %v, %v; want mode 0600", fi, err)
			}
			cfg, err := clientcmd.LoadFromFile(alice)
			if err != nil {
				t.Fatal(err)
			}
			ctx := cfg.Contexts[cfg.CurrentContext]
			if ctx == nil || ctx.AuthInfo != "alice" || ctx.Namespace != "demo" {
				t.Fatalf("context %+v, want user alice in namespace demo", ctx)
			}
			cert := parsePEMCert(t, cfg.AuthInfos["alice"].ClientCertificateData)
			if cert.Subject.CommonName != "alice" || !slices.Equal(cert.Subject.Organization, []string{"dev"}) {
				t.Fatalf("certificate subject %v, want CN=alice O=dev", cert.Subject)
			}
			assertAuthenticated(t, d, v, alice, true)
			if out, err := exec.Command(peapodBin, "kubeconfig", "--data-dir", d.path("data"), "--kubeconfig", d.kubeconfig,
				"--user", "eve", "--group", "system:masters").CombinedOutput(); err == nil || !strings.Contains(string(out), "--allow-masters") {
				t.Fatalf("peapod kubeconfig --group system:masters: %v\n%s", err, out)
			}

			if out := d.mustKubectl(v, "", "api-resources", "--api-group", "certificates.k8s.io", "--no-headers"); !slices.Equal(strings.Fields(out),
				[]string{"certificatesigningrequests", "csr", "certificates.k8s.io/v1", "false", "CertificateSigningRequest"}) {
				t.Fatalf("kubectl api-resources:\n%s", out)
			}
			// A CertificateSigningRequest, pending until approved.
			bob, carol := "bob-"+sfx, "carol-"+sfx
			bobKey, bobReq := newCSR(t, "bob", "dev")
			_, carolReq := newCSR(t, "carol")
			d.mustKubectl(v, csrManifest(bob, bobReq, client, "  expirationSeconds: 86400\n  username: mallory\n  groups: [system:masters]\n",
				"digital signature", "key encipherment", "client auth"), "create", "-f", "-")
			d.mustKubectl(v, csrManifest(carol, carolReq, client, "", "client auth"), "create", "-f", "-")
			out := d.mustKubectl(v, "", "get", "csr", bob)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"NAME", "AGE", "SIGNERNAME", "REQUESTOR", "REQUESTEDDURATION", "CONDITION"}) {
				t.Fatalf("kubectl get csr:\n%s", out)
			}
			if f := strings.Fields(lines[1]); len(f) != 6 || f[0] != bob || f[2] != client || f[3] != "kubernetes-admin" || f[4] != "24h" || f[5] != "Pending" {
				t.Fatalf("kubectl get csr row %q, want %s, signer, requestor kubernetes-admin, 24h, Pending", lines[1], bob)
			}
			if got := d.mustKubectl(v, "", "get", "csr", bob, "-o", "jsonpath={.spec.username} {.spec.groups}"); got != `kubernetes-admin ["system:masters","system:authenticated"]` {
				t.Fatalf("requester %q: the server must record who asks, not what the body says", got)
			}

			// Denied: no certificate ever.
			if out := d.mustKubectl(v, "", "certificate", "deny", carol); !strings.Contains(out, "denied") {
				t.Fatalf("kubectl certificate deny: %s", out)
			}
			// Approved: the signer issues the certificate.
			if out := d.mustKubectl(v, "", "certificate", "approve", bob); !strings.Contains(out, "approved") {
				t.Fatalf("kubectl certificate approve: %s", out)
			}
			var issued []byte
			d.waitFor("the certificate of "+bob, 30*time.Second, func() (bool, error) {
				out := d.mustKubectl(v, "", "get", "csr", bob, "-o", "jsonpath={.status.certificate}")
				if out == "" {
					return false, nil
				}
				issued, err = base64.StdEncoding.DecodeString(out)
				return true, err
			})
			cert = parsePEMCert(t, issued)
			if cert.Subject.CommonName != "bob" || !slices.Equal(cert.Subject.Organization, []string{"dev"}) ||
				!slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
				t.Fatalf("issued certificate %v %v, want CN=bob O=dev for client auth", cert.Subject, cert.ExtKeyUsage)
			}
			if life := time.Until(cert.NotAfter); life > 24*time.Hour || life < 23*time.Hour {
				t.Fatalf("issued certificate valid for %s more, want the 24h asked for", life)
			}
			if f := strings.Fields(d.mustKubectl(v, "", "get", "csr", bob, "--no-headers")); f[len(f)-1] != "Approved,Issued" {
				t.Fatalf("kubectl get csr %s: %v, want Approved,Issued", bob, f)
			}
			if out := d.mustKubectl(v, "", "describe", "csr", bob); !strings.Contains(out, "Requesting User:     kubernetes-admin") || !strings.Contains(out, "Approved,Issued") {
				t.Fatalf("kubectl describe csr:\n%s", out)
			}
			if out := d.mustKubectl(v, "", "get", "csr", "-o", "name", "--field-selector", "spec.signerName="+client); !strings.Contains(out, bob) || !strings.Contains(out, carol) {
				t.Fatalf("kubectl get csr by signer:\n%s", out)
			}
			if out := d.mustKubectl(v, "", "get", "csr", "-o", "name", "--field-selector", "spec.signerName=example.com/none"); out != "" {
				t.Fatalf("kubectl get csr by another signer:\n%s", out)
			}
			if out := d.mustKubectl(v, "", "get", "--raw", "/apis/certificates.k8s.io/v1/certificatesigningrequests/"+bob+"/approval"); !strings.Contains(out, `"type":"Approved"`) {
				t.Fatalf("GET approval:\n%s", out)
			}
			bobConfig := d.path("bob-" + sfx + ".kubeconfig")
			withUser(t, d, bobConfig, issued, bobKey)
			assertAuthenticated(t, d, v, bobConfig, true)
			// The signer handles requests in order: carol's denial came
			// before bob's approval.
			if got := d.mustKubectl(v, "", "get", "csr", carol, "-o", "jsonpath={.status.certificate}|{.status.conditions[*].type}"); got != "|Denied" {
				t.Fatalf("denied request: %q, want no certificate and only Denied", got)
			}
			if f := strings.Fields(d.mustKubectl(v, "", "get", "csr", carol, "--no-headers")); f[len(f)-1] != "Denied" {
				t.Fatalf("kubectl get csr %s: %v, want Denied", carol, f)
			}
			// Approval conditions are exclusive and cannot be taken back
			// (kubectl refuses on its own; the API must too).
			csrs := d.client.CertificatesV1().CertificateSigningRequests()
			cur, err := csrs.Get(context.Background(), carol, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			both := cur.DeepCopy()
			both.Status.Conditions = append(both.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "Test"})
			if _, err := csrs.UpdateApproval(context.Background(), carol, both, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) ||
				!strings.Contains(err.Error(), "status.conditions[1].type: Invalid value: \"Approved\": Approved and Denied conditions are mutually exclusive") {
				t.Fatalf("approving a denied request: %v", err)
			}
			none := cur.DeepCopy()
			none.Status.Conditions = nil
			if _, err := csrs.UpdateApproval(context.Background(), carol, none, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) ||
				!strings.Contains(err.Error(), `updates may not remove a condition of type "Denied"`) {
				t.Fatalf("removing a denial: %v", err)
			}
			// The status subresource sets certificates, not approvals.
			if _, err := csrs.UpdateStatus(context.Background(), both, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) ||
				!strings.Contains(err.Error(), `updates may not add a condition of type "Approved"`) {
				t.Fatalf("approving through status: %v", err)
			}
		})
	}
}

func TestCSRRefused(t *testing.T) {
	d := startDaemon(t)
	const client = "kubernetes.io/kube-apiserver-client"
	for _, v := range []string{"1.27", "1.33"} {
		t.Run(v, func(t *testing.T) {
			sfx := strings.ReplaceAll(v, ".", "")
			_, req := newCSR(t, "dave")
			tests := []struct {
				name, manifest string
				want           []string
			}{
				{name: "bad-pem", manifest: csrManifest("bad-pem-"+sfx, []byte("not a request"), client, "", "client auth"),
					want: []string{`The CertificateSigningRequest "bad-pem-` + sfx + `" is invalid: spec.request: Invalid value: "bm90IGEgcmVxdWVzdA==": PEM block type must be CERTIFICATE REQUEST`}},
				{name: "short", manifest: csrManifest("short-"+sfx, req, client, "  expirationSeconds: 100\n", "client auth"),
					want: []string{`The CertificateSigningRequest "short-` + sfx + `" is invalid: spec.expirationSeconds: Invalid value: 100: may not specify a duration less than 600 seconds (10 minutes)`}},
				{name: "signer", manifest: csrManifest("signer-"+sfx, req, "example", "", "client auth", "client auth"),
					want: []string{`spec.usages[1]: Duplicate value: "client auth"`, `spec.signerName: Invalid value: "example": must be a fully qualified domain and path of the form 'example.com/signer-name'`}},
				{name: "legacy", manifest: csrManifest("legacy-"+sfx, req, "kubernetes.io/legacy-unknown", "", "client auth"),
					want: []string{`spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": the legacy signerName is not allowed via this API version`}},
				{name: "path", manifest: csrManifest("a/b", req, client, "", "client auth"),
					want: []string{`Name parameter invalid: "a/b": may not contain '/'`}},
				{name: "masters", manifest: csrManifest("masters-"+sfx, func() []byte { _, r := newCSR(t, "eve", "system:masters"); return r }(), client, "", "client auth"),
					want: []string{`certificatesigningrequests.certificates.k8s.io "masters-` + sfx + `" is forbidden: use of kubernetes.io/kube-apiserver-client signer with system:masters group is not allowed`}},
			}
			for _, tt := range tests {
				_, errOut, err := d.kubectl(v, tt.manifest, "create", "-f", "-")
				for _, w := range tt.want {
					if err == nil || !strings.Contains(errOut, w) {
						t.Errorf("%s: kubectl create: %v\n%s\nwant %q", tt.name, err, errOut, w)
					}
				}
			}

			// Approved but not signable: Failed, with the signer's reason;
			// for a signer peapod does not implement: left as it is.
			server, other := "server-"+sfx, "other-"+sfx
			d.mustKubectl(v, csrManifest(server, req, client, "", "server auth"), "create", "-f", "-")
			d.mustKubectl(v, csrManifest(other, req, "example.com/signer", "", "client auth"), "create", "-f", "-")
			d.mustKubectl(v, "", "certificate", "approve", other, server)
			d.waitFor(server+" to fail", 30*time.Second, func() (bool, error) {
				f := strings.Fields(d.mustKubectl(v, "", "get", "csr", server, "--no-headers"))
				return f[len(f)-1] == "Approved,Failed", nil
			})
			got := d.mustKubectl(v, "", "get", "csr", server, "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}`)
			if got != "SignerValidationFailure: invalid usage for client certificate: server auth" {
				t.Fatalf("Failed condition %q", got)
			}
			if f := strings.Fields(d.mustKubectl(v, "", "get", "csr", other, "--no-headers")); f[len(f)-1] != "Approved" {
				t.Fatalf("request to another signer: %v, want Approved and nothing more", f)
			}

			// The cleaner deletes a request denied more than an hour ago
			// (the approval subresource keeps a lastUpdateTime it is given).
			old := "old-" + sfx
			d.mustKubectl(v, csrManifest(old, req, client, "", "client auth"), "create", "-f", "-")
			csrs := d.client.CertificatesV1().CertificateSigningRequests()
			cur, err := csrs.Get(context.Background(), old, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cur.Status.Conditions = append(cur.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
				Type: certificatesv1.CertificateDenied, Status: corev1.ConditionTrue, Reason: "Test",
				LastUpdateTime: metav1.NewTime(time.Now().Add(-2 * time.Hour))})
			if _, err := csrs.UpdateApproval(context.Background(), old, cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			d.waitFor(old+" to be cleaned up", 30*time.Second, func() (bool, error) {
				_, err := csrs.Get(context.Background(), old, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			})
			// Fresh ones stay.
			if _, err := csrs.Get(context.Background(), server, metav1.GetOptions{}); err != nil {
				t.Fatalf("a failed request was removed at once: %v", err)
			}
		})
	}
}
