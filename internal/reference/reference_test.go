package reference

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	const dgst = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		desc    string
		in      string
		want    string
		wantErr bool
	}{
		{desc: "short name", in: "busybox", want: "docker.io/library/busybox:latest"},
		{desc: "short name with tag", in: "busybox:1.36", want: "docker.io/library/busybox:1.36"},
		{desc: "hub user repo", in: "user/app", want: "docker.io/user/app:latest"},
		{desc: "capitals are no registry host", in: "Foo/bar", wantErr: true},
		{desc: "bracketed host must be IPv6", in: "[0]:0/0", wantErr: true},
		{desc: "bracketed IPv6 host", in: "[::1]:5000/a:b", want: "[::1]:5000/a:b"},
		{desc: "docker.io prefix", in: "docker.io/busybox", want: "docker.io/library/busybox:latest"},
		{desc: "index.docker.io alias", in: "index.docker.io/library/busybox:1", want: "docker.io/library/busybox:1"},
		{desc: "fully qualified unchanged", in: "registry.k8s.io/pause:3.10", want: "registry.k8s.io/pause:3.10"},
		{desc: "registry with port", in: "localhost:5000/x", want: "localhost:5000/x:latest"},
		{desc: "localhost without port", in: "localhost/x:1", want: "localhost/x:1"},
		{desc: "ip registry", in: "127.0.0.1:5000/a/b/c:v1", want: "127.0.0.1:5000/a/b/c:v1"},
		{desc: "digest kept", in: "busybox@" + dgst, want: "docker.io/library/busybox@" + dgst},
		{desc: "tag and digest keeps digest", in: "quay.io/a/b:1@" + dgst, want: "quay.io/a/b@" + dgst},
		{desc: "separators", in: "a.b/c_d__e-f--g.h:T_a.g-1", want: "a.b/c_d__e-f--g.h:T_a.g-1"},
		{desc: "uppercase repository", in: "Busybox", wantErr: true},
		{desc: "uppercase path", in: "quay.io/Foo/bar", wantErr: true},
		{desc: "empty", in: "", wantErr: true},
		{desc: "empty tag", in: "busybox:", wantErr: true},
		{desc: "bad tag", in: "busybox:-x", wantErr: true},
		{desc: "bad digest", in: "busybox@sha256:abc", wantErr: true},
		{desc: "double slash", in: "a//b", wantErr: true},
		{desc: "trailing separator", in: "foo-", wantErr: true},
		{desc: "url scheme", in: "https://quay.io/a", wantErr: true},
		{desc: "hex id", in: dgst[len("sha256:"):], wantErr: true},
		{desc: "space", in: "busy box", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Normalize(%q) = %q, %v; want ErrInvalid", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Normalize(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestNormalizeErrorMessage(t *testing.T) {
	_, err := Normalize("Busybox")
	const want = "invalid reference format: repository name must be lowercase"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}
