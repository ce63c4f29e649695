package kubelet

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func notFound(name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func TestConfigKey(t *testing.T) {
	for _, tc := range []struct{ key, host, path string }{
		{"https://index.docker.io/v1/", "docker.io", ""},
		{"docker.io", "docker.io", ""},
		{"127.0.0.1:5000", "127.0.0.1:5000", ""},
		{"http://127.0.0.1:5000", "127.0.0.1:5000", ""},
		{"registry.example/team", "registry.example", "team"},
		{"https://registry.example/v2/", "registry.example", ""},
	} {
		if host, path := configKey(tc.key); host != tc.host || path != tc.path {
			t.Errorf("configKey(%q) = %q, %q; want %q, %q", tc.key, host, path, tc.host, tc.path)
		}
	}
}

// secretGetter serves secrets from a map.
type secretGetter map[string]*corev1.Secret

func (g secretGetter) Get(_ context.Context, ns, name string) (runtime.Object, error) {
	if s, ok := g[name]; ok {
		return s, nil
	}
	return nil, notFound(name)
}

func TestPullCredentials(t *testing.T) {
	dockerJSON := func(auths string) *corev1.Secret {
		return &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":` + auths + `}`)}}
	}
	k := &Kubelet{cfg: Config{Secrets: secretGetter{
		"local": dockerJSON(`{"127.0.0.1:5000":{"username":"u","password":"p"},"other.example":{"auth":"eDp5"}}`),
		"team":  dockerJSON(`{"127.0.0.1:5000/team":{"auth":"dGVhbTpzZWNyZXQ="}}`),
		"old":   {Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"https://index.docker.io/v1/":{"username":"hub","password":"h"}}`)}},
	}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default"}, Spec: corev1.PodSpec{
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "local"}, {Name: "team"}, {Name: "old"}}}}
	for _, tc := range []struct {
		image string
		users []string
	}{
		{"127.0.0.1:5000/team/app:1", []string{"team", "u"}}, // the repository prefix first
		{"127.0.0.1:5000/app:1", []string{"u"}},
		{"busybox", []string{"hub"}},
		{"other.example/x", []string{"x"}},
		{"nowhere.example/x", nil},
	} {
		var users []string
		for _, a := range k.pullCredentials(context.Background(), pod, tc.image) {
			users = append(users, a.Username)
		}
		if len(users) != len(tc.users) || (len(users) > 0 && users[0] != tc.users[0]) {
			t.Errorf("credentials for %s: %v, want %v", tc.image, users, tc.users)
		}
	}
}
