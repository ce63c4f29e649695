package reference

import (
	"bytes"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// FuzzNormalize parses arbitrary image references: a reference accepted
// is one go-containerregistry (which pulls) accepts too, and normalizing
// is idempotent.
func FuzzNormalize(f *testing.F) {
	for _, ref := range []string{
		"busybox", "busybox:1.36", "docker.io/library/busybox:latest", "localhost:5000/a/b:c",
		"registry.k8s.io/pause@sha256:" + string(bytes.Repeat([]byte("a"), 64)), "UPPER/case", "a//b", "a:b:c",
		"127.0.0.1:5000/x@sha256:abc", "index.docker.io/x", "[::1]:5000/x", "http://x/y", "x@", "-x", "a/../b",
	} {
		f.Add(ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		out, err := Normalize(ref)
		if err != nil {
			return
		}
		if _, err := name.ParseReference(out, name.StrictValidation); err != nil {
			t.Fatalf("Normalize(%q) = %q, which go-containerregistry refuses: %v", ref, out, err)
		}
		if again, err := Normalize(out); err != nil || again != out {
			t.Fatalf("Normalize(%q) = %q, but Normalize(%q) = %q, %v", ref, out, out, again, err)
		}
	})
}
