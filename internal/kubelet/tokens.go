package kubelet

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TokenRequester is the TokenRequest API (serviceaccounts/token) the
// kubelet asks for the tokens of projected serviceAccountToken volumes.
type TokenRequester interface {
	Create(ctx context.Context, ns, name string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error)
}

// Token refresh rules of the kubelet's token manager
// (pkg/kubelet/token/token_manager.go): a token is renewed once 80% of its
// lifetime has passed, or after 24 hours, whichever comes first.
const (
	tokenRefreshFraction = 0.8
	maxTokenAge          = 24 * time.Hour
)

// tokenManager caches the tokens of pods' projected volumes, so that a
// volume resync rewrites a token only when it is due for renewal.
type tokenManager struct {
	mu     sync.Mutex
	tokens map[tokenKey]cachedToken
}

type tokenKey struct {
	pod        types.UID
	audience   string
	expiration int64
}

type cachedToken struct {
	token    string
	issued   time.Time
	expiry   time.Time
	lifetime time.Duration
}

func (c cachedToken) due(now time.Time) bool {
	age := now.Sub(c.issued)
	return age > time.Duration(float64(c.lifetime)*tokenRefreshFraction) || age > maxTokenAge || !now.Before(c.expiry)
}

// token returns a valid token bound to pod for audience.
func (m *tokenManager) token(ctx context.Context, req TokenRequester, now time.Time, pod *corev1.Pod, audience string, expiration int64) (string, error) {
	key := tokenKey{pod: pod.UID, audience: audience, expiration: expiration}
	m.mu.Lock()
	c, ok := m.tokens[key]
	m.mu.Unlock()
	if ok && !c.due(now) {
		return c.token, nil
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiration,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	out, err := req.Create(ctx, pod.Namespace, pod.Spec.ServiceAccountName, tr)
	if err != nil {
		return "", fmt.Errorf("failed to fetch token: %w", err)
	}
	c = cachedToken{token: out.Status.Token, issued: now, expiry: out.Status.ExpirationTimestamp.Time,
		lifetime: out.Status.ExpirationTimestamp.Time.Sub(now)}
	m.mu.Lock()
	if m.tokens == nil {
		m.tokens = map[tokenKey]cachedToken{}
	}
	m.tokens[key] = c
	m.mu.Unlock()
	return c.token, nil
}

// forget drops the tokens of a pod that is gone.
func (m *tokenManager) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.pod == uid {
			delete(m.tokens, k)
		}
	}
}

// tokenFiles is the file of a serviceAccountToken projection.
func (k *Kubelet) tokenFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ServiceAccountTokenProjection, def os.FileMode) (map[string]volumeFile, error) {
	if k.cfg.Tokens == nil {
		return nil, fmt.Errorf("service account tokens are not available on this node")
	}
	exp := int64(3600)
	if src.ExpirationSeconds != nil {
		exp = *src.ExpirationSeconds
	}
	tok, err := k.tokens.token(ctx, k.cfg.Tokens, k.cfg.Now(), pod, src.Audience, exp)
	if err != nil {
		return nil, err
	}
	return map[string]volumeFile{src.Path: {data: []byte(tok), mode: def}}, nil
}
