// Package satoken issues and checks bound service-account tokens, as
// kube-apiserver's pkg/serviceaccount does: ES256-signed JWTs whose private
// "kubernetes.io" claim names the namespace, the service account and the
// object (pod or secret) the token is bound to. A token is accepted only
// while it has not expired and its service account and bound object still
// exist with the UIDs it names.
package satoken

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// DefaultIssuer is the issuer kubeadm clusters use, and the default API
// audience.
const DefaultIssuer = "https://kubernetes.default.svc.cluster.local"

// ErrInvalid is returned for every token that is not accepted; the reason
// is in the wrapping message (upstream answers a plain 401 either way).
var ErrInvalid = errors.New("invalid bearer token")

// Getter reads the objects a token is bound to.
type Getter interface {
	ServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error)
	Pod(ctx context.Context, ns, name string) (*corev1.Pod, error)
	Secret(ctx context.Context, ns, name string) (*corev1.Secret, error)
}

// Issuer signs and checks tokens.
type Issuer struct {
	key       *ecdsa.PrivateKey
	keyID     string
	signer    jose.Signer
	issuer    string
	audiences []string
	getter    Getter
	now       func() time.Time
}

// Ref names an object a token is bound to.
type Ref struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
}

// Claims is the private claim upstream puts under "kubernetes.io".
type Claims struct {
	Namespace      string           `json:"namespace"`
	ServiceAccount Ref              `json:"serviceaccount"`
	Pod            *Ref             `json:"pod,omitempty"`
	Secret         *Ref             `json:"secret,omitempty"`
	WarnAfter      *jwt.NumericDate `json:"warnafter,omitempty"`
}

type privateClaims struct {
	Kubernetes Claims `json:"kubernetes.io"`
}

// Request is what a token is issued for.
type Request struct {
	Claims
	Audiences []string
	TTL       time.Duration
}

// Token is an issued token.
type Token struct {
	Token   string
	Expiry  time.Time
	ID      string
	Subject string
}

// Identity is who a valid token speaks for.
type Identity struct {
	Claims
	ID string // the JWT ID, upstream's credential-id
}

// Options configure an Issuer.
type Options struct {
	Issuer    string   // default DefaultIssuer
	Audiences []string // the API audiences; default the issuer
	Now       func() time.Time
}

// New loads the signing key at keyPath, creating it on first use.
func New(keyPath string, getter Getter, opts Options) (*Issuer, error) {
	key, err := ensureKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("service account signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	kid := base64.RawURLEncoding.EncodeToString(sum[:])
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		return nil, err
	}
	i := &Issuer{key: key, keyID: kid, signer: signer, issuer: opts.Issuer, audiences: opts.Audiences, getter: getter, now: opts.Now}
	if i.issuer == "" {
		i.issuer = DefaultIssuer
	}
	if len(i.audiences) == 0 {
		i.audiences = []string{i.issuer}
	}
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// APIAudiences are the audiences the API server accepts.
func (i *Issuer) APIAudiences() []string { return append([]string(nil), i.audiences...) }

// Issue signs a token for req.
func (i *Issuer) Issue(req Request) (Token, error) {
	now := i.now().Truncate(time.Second)
	exp := now.Add(req.TTL)
	std := jwt.Claims{
		Issuer:    i.issuer,
		Subject:   Username(req.Namespace, req.ServiceAccount.Name),
		Audience:  jwt.Audience(req.Audiences),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(exp),
		ID:        string(uuid.NewUUID()),
	}
	raw, err := jwt.Signed(i.signer).Claims(std).Claims(privateClaims{Kubernetes: req.Claims}).Serialize()
	if err != nil {
		return Token{}, fmt.Errorf("signing a token: %w", err)
	}
	return Token{Token: raw, Expiry: exp, ID: std.ID, Subject: std.Subject}, nil
}

// Username is the user a service account authenticates as.
func Username(ns, name string) string { return "system:serviceaccount:" + ns + ":" + name }

// Authenticate checks a bearer token: signature, issuer, audience, time,
// and that what it is bound to still exists.
func (i *Issuer) Authenticate(ctx context.Context, raw string) (*Identity, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var std jwt.Claims
	var priv privateClaims
	if err := tok.Claims(&i.key.PublicKey, &std, &priv); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := std.ValidateWithLeeway(jwt.Expected{Issuer: i.issuer, AnyAudience: i.audiences, Time: i.now()}, time.Minute); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := priv.Kubernetes
	if c.Namespace == "" || c.ServiceAccount.Name == "" || std.Subject != Username(c.Namespace, c.ServiceAccount.Name) {
		return nil, fmt.Errorf("%w: no service account claims", ErrInvalid)
	}
	if err := i.checkBindings(ctx, c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return &Identity{Claims: c, ID: std.ID}, nil
}

// checkBindings is upstream's validator: the service account and the bound
// object must exist with the token's UIDs, and a bound pod must not be
// deleted.
func (i *Issuer) checkBindings(ctx context.Context, c Claims) error {
	sa, err := i.getter.ServiceAccount(ctx, c.Namespace, c.ServiceAccount.Name)
	if err != nil {
		return fmt.Errorf("service account %s/%s: %w", c.Namespace, c.ServiceAccount.Name, err)
	}
	if sa.UID != c.ServiceAccount.UID {
		return fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, c.ServiceAccount.UID)
	}
	if c.Pod != nil {
		pod, err := i.getter.Pod(ctx, c.Namespace, c.Pod.Name)
		if err != nil {
			return fmt.Errorf("pod %s/%s: %w", c.Namespace, c.Pod.Name, err)
		}
		if pod.UID != c.Pod.UID {
			return fmt.Errorf("pod UID (%s) does not match claim (%s)", pod.UID, c.Pod.UID)
		}
		if pod.DeletionTimestamp != nil && pod.DeletionTimestamp.Time.Before(i.now()) {
			return fmt.Errorf("pod %s/%s has been deleted", c.Namespace, c.Pod.Name)
		}
	}
	if c.Secret != nil {
		secret, err := i.getter.Secret(ctx, c.Namespace, c.Secret.Name)
		if err != nil {
			return fmt.Errorf("secret %s/%s: %w", c.Namespace, c.Secret.Name, err)
		}
		if secret.UID != c.Secret.UID {
			return fmt.Errorf("secret UID (%s) does not match claim (%s)", secret.UID, c.Secret.UID)
		}
	}
	return nil
}

// ensureKey reads the PEM EC key at path or writes a new one (mode 0600).
func ensureKey(path string) (*ecdsa.PrivateKey, error) {
	if data, err := os.ReadFile(path); err == nil {
		block, _ := pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM block", path)
		}
		return x509.ParseECPrivateKey(block.Bytes)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return key, os.Rename(tmp, path)
}
