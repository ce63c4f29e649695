package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/peapod/peapod/internal/reference"

	"github.com/google/go-containerregistry/pkg/authn"
)

// dockerConfig is the part of a docker config.json peapod reads.
// Credential helpers ("credsStore", "credHelpers") are not supported.
type dockerConfig struct {
	Auths map[string]authn.AuthConfig `json:"auths"`
}

// authenticator returns the credentials to present to host, the registry
// API server actually contacted. An explicit, non-empty auth applies to every
// host of the pull, like containerd's CRI credentials without a server
// address; credentials from DockerConfig are only sent to the host they are
// filed under, so a mirror never sees the upstream registry's password.
func (s *Store) authenticator(host string, auth *Auth) (authn.Authenticator, error) {
	if auth != nil && *auth != (Auth{}) {
		return authn.FromConfig(authn.AuthConfig{
			Username:      auth.Username,
			Password:      auth.Password,
			Auth:          auth.Auth,
			IdentityToken: auth.IdentityToken,
			RegistryToken: auth.RegistryToken,
		}), nil
	}
	if s.dockerConfig == "" {
		return authn.Anonymous, nil
	}
	data, err := os.ReadFile(s.dockerConfig)
	if errors.Is(err, fs.ErrNotExist) {
		return authn.Anonymous, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading docker config: %w", err)
	}
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("parsing docker config %s: %w", s.dockerConfig, err)
	}
	keys := make([]string, 0, len(cfg.Auths))
	for k := range cfg.Auths {
		keys = append(keys, k)
	}
	slices.Sort(keys) // deterministic when several keys match
	want := canonicalAuthHost(host)
	for _, k := range keys {
		if canonicalAuthHost(k) == want {
			return authn.FromConfig(cfg.Auths[k]), nil
		}
	}
	return authn.Anonymous, nil
}

// canonicalAuthHost reduces a config.json "auths" key ("https://host/v1/",
// "host:port") or an API host to a comparable host; all Docker Hub names
// map to "docker.io".
func canonicalAuthHost(key string) string {
	if _, rest, ok := strings.Cut(key, "://"); ok {
		key = rest
	}
	key, _, _ = strings.Cut(key, "/")
	switch key {
	case "index.docker.io", dockerHubAPI:
		return reference.DockerDomain
	}
	return key
}
