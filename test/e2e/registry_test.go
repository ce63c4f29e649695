package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/peapod/peapod/internal/testutil"
)

// startRegistry serves an in-memory registry on 127.0.0.1 and pushes the
// test image to it as repo:tag. It returns host:port.
func startRegistry(t *testing.T, repoTag string) string {
	t.Helper()
	return startRegistryWith(t, repoTag, "", "")
}

// startRegistryWith is startRegistry with basic authentication required
// for every request when user is not empty (as Debian's docker-registry
// with an htpasswd file would).
func startRegistryWith(t *testing.T, repoTag, user, password string) string {
	t.Helper()
	var wrap func(http.Handler) http.Handler
	if user != "" {
		wrap = testutil.BasicAuth(user, password)
	}
	host := testutil.StartRegistry(t, wrap)
	dir := t.TempDir()
	if err := testutil.UntarFile(imageTar, dir); err != nil {
		t.Fatal(err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: password})); err != nil {
		t.Fatalf("pushing the test image: %v", err)
	}
	return host
}

// mirror makes registryHost's images come from a plain-HTTP mirror, with a
// containerd-style hosts.toml in the daemon's config directory.
func (d *daemon) mirror(t *testing.T, registryHost, mirrorHost string) {
	t.Helper()
	dir := d.path("etc/certs.d/" + registryHost)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("server = \"https://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registryHost, mirrorHost)
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}
