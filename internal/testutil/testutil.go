// Package testutil holds what peapod's tests share: the root check of the
// tests that need real namespaces and cgroups, a local registry, tar
// extraction, cgroup clean-up and a throwaway object database. Only tests
// import it.
package testutil

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// RequireRoot fails the test unless it runs as root: the tests that use
// it drive real namespaces, mounts and cgroups, and a skip would pass for
// a pass.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (namespaces, mounts, cgroups)")
	}
}

// StartRegistry serves an in-memory OCI registry on 127.0.0.1 for the
// test's lifetime and returns its host:port. wrap, if set, wraps its
// handler (to require authentication, count requests, fail some).
func StartRegistry(t testing.TB, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// BasicAuth wraps a registry handler so that every request needs the
// user's basic credentials, as a registry with an htpasswd file does.
func BasicAuth(user, password string) func(http.Handler) http.Handler {
	return func(inner http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="peapod-test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
}

// Untar extracts a tar stream into dir: directories, regular files with
// their permission bits, and hard links. Names cannot leave dir.
func Untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeLink:
			if err := os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), target); err != nil {
				return err
			}
		}
	}
}

// UntarFile extracts the tar file at path into dir.
func UntarFile(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return Untar(f, dir)
}

// RemoveCgroupTree removes a test's cgroup root from every hierarchy
// (each controller's on cgroup v1, the unified one on v2), deepest first.
// What still runs in it must be gone.
func RemoveCgroupTree(root string) {
	for _, h := range CgroupHierarchies() {
		base := filepath.Join(h, root)
		var dirs []string
		_ = filepath.WalkDir(base, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			_ = os.Remove(dirs[i])
		}
	}
}

// CgroupHierarchies lists where a cgroup may show up: every directory
// below /sys/fs/cgroup (a controller's hierarchy on v1, or a cgroup on v2)
// and /sys/fs/cgroup itself.
func CgroupHierarchies() []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	return append(dirs, "/sys/fs/cgroup")
}

// Eventually polls cond every 50 ms until it holds, failing the test
// after timeout (a bound against hanging, not a performance assertion).
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
