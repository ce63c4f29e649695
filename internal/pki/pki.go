// Package pki creates the cluster's certificate authority, the API server's
// serving certificate and the admin client certificate on first start, and
// writes the admin kubeconfig. Existing files are reused; a serving
// certificate whose names no longer match is issued again. Later, the loaded
// CA issues users' client certificates and signs certificate requests.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const validity = 10 * 365 * 24 * time.Hour

// Bundle holds the loaded material.
type Bundle struct {
	CA         *x509.Certificate
	CAPEM      []byte
	Serving    tls.Certificate
	ClientCert []byte // admin client certificate, PEM
	ClientKey  []byte // admin client key, PEM
}

// Ensure loads or creates the PKI in dir. hosts are the DNS names and IPs
// the serving certificate must carry.
func Ensure(dir string, hosts []string) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caCert, caKey, caPEM, err := ensureCA(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate authority: %w", err)
	}
	servCert, servKey, err := ensureLeaf(dir, "apiserver", caCert, caKey, leafSpec{
		cn: "kube-apiserver", hosts: hosts, usage: x509.ExtKeyUsageServerAuth,
	})
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	serving, err := tls.X509KeyPair(servCert, servKey)
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := ensureLeaf(dir, "admin", caCert, caKey, leafSpec{
		cn: "kubernetes-admin", orgs: []string{"system:masters"}, usage: x509.ExtKeyUsageClientAuth,
	})
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	return &Bundle{CA: caCert, CAPEM: caPEM, Serving: serving, ClientCert: clientCert, ClientKey: clientKey}, nil
}

// ServerTLS returns the TLS configuration of the API server: client
// certificates are verified against the CA when presented.
func (b *Bundle) ServerTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return &tls.Config{
		Certificates: []tls.Certificate{b.Serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

// WriteKubeconfig writes an admin kubeconfig for server (https://host:port)
// to path with mode 0600.
func (b *Bundle) WriteKubeconfig(path, server, clusterName string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: b.CAPEM}
	cfg.AuthInfos["admin@"+clusterName] = &clientcmdapi.AuthInfo{ClientCertificateData: b.ClientCert, ClientKeyData: b.ClientKey}
	cfg.Contexts[clusterName] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: "admin@" + clusterName, Namespace: "default"}
	cfg.CurrentContext = clusterName
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func ensureCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	if certPEM, keyPEM, err := readPair(certPath, keyPath); err == nil {
		cert, key, err := parsePair(certPEM, keyPEM)
		return cert, key, certPEM, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil, err
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: "peapod-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writePair(certPath, keyPath, certPEM, keyPEM); err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, certPEM, err
}

type leafSpec struct {
	cn    string
	orgs  []string
	hosts []string
	usage x509.ExtKeyUsage
}

func ensureLeaf(dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, spec leafSpec) ([]byte, []byte, error) {
	certPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if certPEM, keyPEM, err := readPair(certPath, keyPath); err == nil {
		cert, _, perr := parsePair(certPEM, keyPEM)
		if perr == nil && cert.CheckSignatureFrom(ca) == nil && coversHosts(cert, spec.hosts) && time.Now().Before(cert.NotAfter) {
			return certPEM, keyPEM, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: spec.cn, Organization: spec.orgs},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{spec.usage},
	}
	for _, h := range spec.hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return certPEM, keyPEM, writePair(certPath, keyPath, certPEM, keyPEM)
}

func coversHosts(cert *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(cert.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(cert.DNSNames, h) {
			return false
		}
	}
	return true
}

func readPair(certPath, keyPath string) ([]byte, []byte, error) {
	c, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	k, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	return c, k, nil
}

func parsePair(certPEM, keyPEM []byte) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, nil, errors.New("malformed PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	return cert, key, err
}

func writePair(certPath, keyPath string, certPEM, keyPEM []byte) error {
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, certPEM, 0o644)
}
