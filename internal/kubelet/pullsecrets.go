package kubelet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/peapod/peapod/internal/events"
	"github.com/peapod/peapod/internal/reference"
)

// dockerConfigEntry is one registry's credentials in a docker config.
type dockerConfigEntry struct {
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Auth     string `json:"auth,omitempty"`
}

// reportMissingPullSecrets warns about the pod's imagePullSecrets that do
// not exist (getPullSecretsForPod upstream), once per sandbox.
func (k *Kubelet) reportMissingPullSecrets(ctx context.Context, pod *corev1.Pod) {
	var missing []string
	for _, s := range pod.Spec.ImagePullSecrets {
		if _, err := k.secret(ctx, pod.Namespace, s.Name); apierrors.IsNotFound(err) {
			missing = append(missing, s.Name)
		}
	}
	if len(missing) > 0 {
		k.cfg.Recorder.Eventf(pod, "", events.Warning, "FailedToRetrieveImagePullSecret",
			"Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(missing, ", "))
	}
}

// pullCredentials are the credentials of the pod's imagePullSecrets that
// match the image's registry (and repository prefix), most specific
// first, as the kubelet's keyring does (pkg/credentialprovider). Secrets
// that cannot be read are left out; the node's own credentials come last.
func (k *Kubelet) pullCredentials(ctx context.Context, pod *corev1.Pod, ref string) []*runtimeapi.AuthConfig {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil
	}
	registry, err := reference.Registry(ref)
	if err != nil {
		return nil
	}
	repo, _ := reference.Repository(ref)
	type match struct {
		key  string
		auth *runtimeapi.AuthConfig
	}
	var found []match
	for _, s := range pod.Spec.ImagePullSecrets {
		sec, err := k.secret(ctx, pod.Namespace, s.Name)
		if err != nil {
			continue
		}
		for key, e := range dockerConfig(sec) {
			host, path := configKey(key)
			if host != registry || (path != "" && path != repo && !strings.HasPrefix(repo, path+"/")) {
				continue
			}
			a := &runtimeapi.AuthConfig{Username: e.Username, Password: e.Password, Auth: e.Auth, ServerAddress: host}
			if a.Username == "" && e.Auth != "" {
				if raw, err := base64.StdEncoding.DecodeString(e.Auth); err == nil {
					a.Username, a.Password, _ = strings.Cut(string(raw), ":")
				}
			}
			found = append(found, match{path, a})
		}
	}
	sort.SliceStable(found, func(i, j int) bool { return len(found[i].key) > len(found[j].key) })
	out := make([]*runtimeapi.AuthConfig, len(found))
	for i, m := range found {
		out[i] = m.auth
	}
	return out
}

// dockerConfig reads the registries of a kubernetes.io/dockerconfigjson
// or kubernetes.io/dockercfg secret.
func dockerConfig(sec *corev1.Secret) map[string]dockerConfigEntry {
	switch sec.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		if json.Unmarshal(sec.Data[corev1.DockerConfigJsonKey], &cfg) == nil {
			return cfg.Auths
		}
	case corev1.SecretTypeDockercfg:
		var cfg map[string]dockerConfigEntry
		if json.Unmarshal(sec.Data[corev1.DockerConfigKey], &cfg) == nil {
			return cfg
		}
	}
	return nil
}

// configKey splits a docker config key ("https://index.docker.io/v1/",
// "127.0.0.1:5000", "registry.example/team") into the registry host, as
// image references name it, and a repository prefix.
func configKey(key string) (host, path string) {
	if u, err := url.Parse(key); err == nil && u.Host != "" {
		key = u.Host + u.Path
	}
	host, path, _ = strings.Cut(strings.TrimSuffix(key, "/"), "/")
	switch host {
	case "index.docker.io", "registry-1.docker.io", "docker.io":
		host, path = "docker.io", ""
	}
	if path == "v1" || path == "v2" {
		path = ""
	}
	return host, path
}

// pullWithCredentials pulls with each matching credential in turn, then
// with the node's own, returning the first success or the last error.
func (k *Kubelet) pullWithCredentials(ctx context.Context, ref string, auths []*runtimeapi.AuthConfig) (*runtimeapi.PullImageResponse, error) {
	var lastErr error
	for _, a := range append(auths, nil) {
		resp, err := k.cfg.Runtime.PullImage(ctx, &runtimeapi.PullImageRequest{Image: &runtimeapi.ImageSpec{Image: ref}, Auth: a})
		if err == nil {
			return resp, nil
		}
		lastErr = err
	}
	return nil, lastErr
}
