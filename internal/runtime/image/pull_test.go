package image

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/peapod/peapod/internal/testutil"
)

// stripMirrorPrefix serves the registry under /mirror/v2 as well as /v2.
func stripMirrorPrefix(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/mirror"); ok {
			r = r.Clone(r.Context())
			r.URL.Path, r.URL.RawPath = rest, ""
		}
		h.ServeHTTP(w, r)
	})
}

func writeHosts(t *testing.T, hosts map[string]string, host string) string {
	t.Helper()
	dir := t.TempDir()
	for registry, content := range hosts {
		if err := os.MkdirAll(filepath.Join(dir, registry), 0o755); err != nil {
			t.Fatal(err)
		}
		content = strings.ReplaceAll(content, "HOST", host)
		if err := os.WriteFile(filepath.Join(dir, registry, "hosts.toml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPull(t *testing.T) {
	host := testutil.StartRegistry(t, stripMirrorPrefix)
	img := randomImage(t, 2)
	push(t, host+"/library/foo:1", img)
	imgDigest := digestOf(t, img)

	// A multi-platform index whose entry for this machine is native.
	native, other := randomImage(t, 1), randomImage(t, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}},
		mutate.IndexAddendum{Add: native, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	push(t, host+"/library/multi:1", idx)
	idxDigest := digestOf(t, idx)

	const mirrored = "registry.example.test/library/foo"
	tests := []struct {
		desc        string
		ref         string
		hosts       map[string]string // registry -> hosts.toml, HOST replaced
		want        v1.Image
		wantTags    []string
		wantDigests []string
	}{
		{
			desc:        "direct from loopback registry",
			ref:         host + "/library/foo:1",
			want:        img,
			wantTags:    []string{host + "/library/foo:1"},
			wantDigests: []string{host + "/library/foo@" + imgDigest},
		},
		{
			desc:        "by digest",
			ref:         host + "/library/foo@" + imgDigest,
			want:        img,
			wantDigests: []string{host + "/library/foo@" + imgDigest},
		},
		{
			desc: "through a mirror",
			ref:  mirrored + ":1",
			hosts: map[string]string{"registry.example.test": `
server = "https://registry.example.test"
[host."http://HOST"]
  capabilities = ["pull", "resolve"]
`},
			want:        img,
			wantTags:    []string{mirrored + ":1"},
			wantDigests: []string{mirrored + "@" + imgDigest},
		},
		{
			desc: "dead mirror skipped, override_path honoured",
			ref:  mirrored + ":1",
			hosts: map[string]string{"registry.example.test": `
[host."http://127.0.0.1:1"]
  capabilities = ["pull", "resolve"]
[host."http://HOST/mirror/v2"]
  capabilities = ["pull", "resolve"]
  override_path = true
`},
			want:        img,
			wantTags:    []string{mirrored + ":1"},
			wantDigests: []string{mirrored + "@" + imgDigest},
		},
		{
			desc: "resolve and pull on different hosts",
			ref:  mirrored + ":1",
			hosts: map[string]string{"registry.example.test": `
[host."http://HOST/mirror"]
  capabilities = ["pull"]
[host."http://HOST"]
  capabilities = ["resolve"]
`},
			want:        img,
			wantTags:    []string{mirrored + ":1"},
			wantDigests: []string{mirrored + "@" + imgDigest},
		},
		{
			desc:        "multi-platform index",
			ref:         host + "/library/multi:1",
			want:        native,
			wantTags:    []string{host + "/library/multi:1"},
			wantDigests: []string{host + "/library/multi@" + idxDigest},
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			s := newTestStore(t, Options{HostsDir: writeHosts(t, tt.hosts, host)})
			got, err := s.Pull(context.Background(), tt.ref, nil)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			checkImage(t, s, got, tt.want, tt.wantTags, tt.wantDigests)
			stored, err := s.Get(tt.ref)
			if err != nil || stored.ID != got.ID {
				t.Fatalf("Get(%q) = %v, %v", tt.ref, stored, err)
			}
		})
	}
}

func TestPullFailures(t *testing.T) {
	host := testutil.StartRegistry(t, nil)
	push(t, host+"/library/foo:1", randomImage(t, 1))
	tests := []struct {
		desc            string
		ref             string
		wantText        string
		wantNotFound    bool
		wantUnreachable bool
	}{
		{desc: "unknown tag", ref: host + "/library/foo:2", wantText: "MANIFEST_UNKNOWN", wantNotFound: true},
		{desc: "unknown repository", ref: host + "/library/nope:1", wantText: "NAME_UNKNOWN", wantNotFound: true},
		{desc: "nothing listening", ref: "127.0.0.1:1/library/foo:1", wantText: "connection refused", wantUnreachable: true},
	}
	s := newTestStore(t, Options{})
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			_, err := s.Pull(context.Background(), tt.ref, nil)
			if err == nil {
				t.Fatal("Pull succeeded")
			}
			t.Logf("error: %v", err)
			if !strings.Contains(err.Error(), tt.ref) || !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not name the reference and %q", err, tt.wantText)
			}
			if errors.Is(err, ErrNotFound) != tt.wantNotFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %t", !tt.wantNotFound)
			}
			if errors.Is(err, ErrRegistryUnreachable) != tt.wantUnreachable {
				t.Errorf("errors.Is(err, ErrRegistryUnreachable) = %t", !tt.wantUnreachable)
			}
		})
	}
}

func TestPullAuth(t *testing.T) {
	basicAuth := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	host := testutil.StartRegistry(t, basicAuth)
	img := randomImage(t, 1)
	push(t, host+"/team/app:1", img, remote.WithAuth(&authn.Basic{Username: "user", Password: "pass"}))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

	tests := []struct {
		desc    string
		config  string // config.json content; HOST replaced
		auth    *Auth
		wantErr bool
	}{
		{desc: "auth field", config: `{"auths":{"HOST":{"auth":"` + b64("user:pass") + `"}}}`},
		{desc: "username and password with URL key", config: `{"auths":{"http://HOST/v2/":{"username":"user","password":"pass"}}}`},
		{desc: "explicit auth wins over config", config: `{"auths":{"HOST":{"auth":"` + b64("user:wrong") + `"}}}`, auth: &Auth{Username: "user", Password: "pass"}},
		{desc: "explicit base64 auth", auth: &Auth{Auth: b64("user:pass")}},
		{desc: "credentials for another host", config: `{"auths":{"other.example":{"auth":"` + b64("user:pass") + `"}}}`, wantErr: true},
		{desc: "empty auth falls back to none", auth: &Auth{}, wantErr: true},
		{desc: "wrong password", config: `{"auths":{"HOST":{"username":"user","password":"nope"}}}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			var opts Options
			if tt.config != "" {
				opts.DockerConfig = filepath.Join(t.TempDir(), "config.json")
				if err := os.WriteFile(opts.DockerConfig, []byte(strings.ReplaceAll(tt.config, "HOST", host)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s := newTestStore(t, opts)
			ref := host + "/team/app:1"
			got, err := s.Pull(context.Background(), ref, tt.auth)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
					t.Fatalf("Pull error = %v, want UNAUTHORIZED", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			checkImage(t, s, got, img, []string{ref}, []string{fmt.Sprintf("%s/team/app@%s", host, digestOf(t, img))})
		})
	}
}
