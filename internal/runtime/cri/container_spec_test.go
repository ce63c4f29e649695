package cri

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/peapod/peapod/internal/errdefs"
	"github.com/peapod/peapod/internal/runtime/oci"
)

func TestProcessArgs(t *testing.T) {
	ep, cmd := []string{"/entry"}, []string{"default", "args"}
	for _, tc := range []struct {
		desc          string
		command, args []string
		entry, cmd    []string
		want          string
		err           bool
	}{
		{"image defaults", nil, nil, ep, cmd, "/entry default args", false},
		{"args replace cmd", nil, []string{"x"}, ep, cmd, "/entry x", false},
		{"command replaces entrypoint and cmd", []string{"sh"}, nil, ep, cmd, "sh", false},
		{"command and args", []string{"sh"}, []string{"-c", "true"}, ep, cmd, "sh -c true", false},
		{"empty entrypoint", nil, nil, []string{""}, cmd, "default args", false},
		{"nothing at all", nil, nil, nil, nil, "", true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := processArgs(tc.command, tc.args, tc.entry, tc.cmd)
			if (err != nil) != tc.err || strings.Join(got, " ") != tc.want {
				t.Fatalf("got %q %v", got, err)
			}
			if tc.err && !errors.Is(err, errdefs.ErrInvalidArgument) {
				t.Fatalf("error %v is not InvalidArgument", err)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "A=image"}, []*runtimeapi.KeyValue{{Key: "A", Value: []byte("pod")}, {Key: "B", Value: []byte("b")}}, "web")
	if strings.Join(got, " ") != "HOSTNAME=web PATH=/bin A=pod B=b" {
		t.Errorf("env %v", got)
	}
}

func TestResolveUser(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\napp:x:1001:\nextra:x:2000:app,other\n"), 0o644)
	uid := func(v int64) *runtimeapi.Int64Value { return &runtimeapi.Int64Value{Value: v} }
	for _, tc := range []struct {
		desc      string
		sc        *runtimeapi.LinuxContainerSecurityContext
		imageUser string
		uid, gid  uint32
		extra     []uint32
		err       bool
	}{
		{"default root", nil, "", 0, 0, nil, false},
		{"image user by name", nil, "app", 1000, 1001, []uint32{2000}, false},
		{"image uid:gid", nil, "5:6", 5, 6, nil, false},
		{"runAsUser wins", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000)}, "root", 1000, 1001, []uint32{2000}, false},
		{"runAsGroup and supplemental", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(7), RunAsGroup: uid(8), SupplementalGroups: []int64{9}}, "", 7, 8, []uint32{9}, false},
		{"unknown name", nil, "ghost", 0, 0, nil, true},
		{"runAsGroup without a user", &runtimeapi.LinuxContainerSecurityContext{RunAsGroup: uid(8)}, "app", 0, 0, nil, true},
		{"strict leaves out the image's groups", &runtimeapi.LinuxContainerSecurityContext{RunAsUser: uid(1000), SupplementalGroups: []int64{9},
			SupplementalGroupsPolicy: runtimeapi.SupplementalGroupsPolicy_Strict}, "", 1000, 1001, []uint32{9}, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			u, err := resolveUser(root, tc.sc, tc.imageUser)
			if (err != nil) != tc.err {
				t.Fatalf("err %v", err)
			}
			if err == nil && (u.UID != tc.uid || u.GID != tc.gid || !slices.Equal(u.AdditionalGids, tc.extra)) {
				t.Fatalf("got %+v", u)
			}
		})
	}
}

func TestStatusUser(t *testing.T) {
	got := statusUser(&specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{50000, 1234, 1000}}).GetLinux()
	if got.Uid != 1000 || got.Gid != 1000 || !slices.Equal(got.SupplementalGroups, []int64{1000, 1234, 50000}) {
		t.Fatalf("status user %v", got)
	}
	if statusUser(nil) != nil {
		t.Fatal("a container without a recorded user reports one")
	}
}

func TestResolveUserStaysInRoot(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	// A passwd symlink pointing at the host's file must resolve inside root.
	os.Symlink("/etc/shadow-does-not-exist-in-root", filepath.Join(root, "etc/passwd"))
	if _, err := resolveUser(root, nil, "root"); err == nil {
		t.Fatal("resolved a user through a symlink leaving the root")
	}
}

func TestCapabilities(t *testing.T) {
	sc := &runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{
		AddCapabilities: []string{"NET_ADMIN"}, DropCapabilities: []string{"CAP_KILL", "chown"},
	}}
	caps := capabilities(sc, oci.Privileges{}).Bounding
	if !slices.Contains(caps, "CAP_NET_ADMIN") || slices.Contains(caps, "CAP_KILL") || slices.Contains(caps, "CAP_CHOWN") {
		t.Errorf("caps %v", caps)
	}
	if got := capabilities(&runtimeapi.LinuxContainerSecurityContext{Capabilities: &runtimeapi.Capability{DropCapabilities: []string{"ALL"}}}, oci.Privileges{}); len(got.Bounding) != 0 {
		t.Errorf("drop ALL left %v", got.Bounding)
	}
	if got := capabilities(&runtimeapi.LinuxContainerSecurityContext{Privileged: true}, oci.Privileges{}); !slices.Contains(got.Bounding, "CAP_SYS_ADMIN") {
		t.Errorf("privileged lacks SYS_ADMIN")
	}
	// A host that withholds capabilities from peapod: privileged and added
	// ones are clamped to what it holds.
	held := oci.Privileges{Held: map[string]bool{"CAP_SYS_ADMIN": true, "CAP_CHOWN": true, "CAP_KILL": true}}
	for _, sc := range []*runtimeapi.LinuxContainerSecurityContext{
		{Privileged: true},
		{Capabilities: &runtimeapi.Capability{AddCapabilities: []string{"SYS_ADMIN", "SYS_RESOURCE"}}},
	} {
		got := capabilities(sc, held)
		if !slices.Contains(got.Bounding, "CAP_SYS_ADMIN") || slices.Contains(got.Bounding, "CAP_SYS_RESOURCE") ||
			slices.Contains(got.Effective, "CAP_NET_RAW") || len(got.Permitted) != 3 {
			t.Errorf("clamped caps for %v: %+v", sc, got)
		}
	}
}

func TestRepoDigest(t *testing.T) {
	digests := []string{"docker.io/library/busybox@sha256:a", "registry.k8s.io/e2e/busybox@sha256:a"}
	if got := repoDigest(digests, "registry.k8s.io/e2e/busybox:1.0", "sha256:id"); got != digests[1] {
		t.Errorf("got %s", got)
	}
	if got := repoDigest(nil, "x:1", "sha256:id"); got != "sha256:id" {
		t.Errorf("got %s", got)
	}
}

func TestApplyResourcesHugepages(t *testing.T) {
	zero := []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 0}, {PageSize: "1GB", Limit: 0}}
	some := []*runtimeapi.HugepageLimit{{PageSize: "2MB", Limit: 4 << 20}}
	for _, tc := range []struct {
		name    string
		limits  []*runtimeapi.HugepageLimit
		hugetlb bool
		want    int
		wantErr error
	}{
		{name: "zero limits with hugetlb", limits: zero, hugetlb: true, want: 2},
		{name: "zero limits without hugetlb are left out", limits: zero},
		{name: "a limit with hugetlb", limits: some, hugetlb: true, want: 1},
		{name: "a limit without hugetlb is refused", limits: some, wantErr: errdefs.ErrFailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{}}}
			err := applyResources(spec, &runtimeapi.LinuxContainerResources{HugepageLimits: tc.limits}, tc.hugetlb)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if got := len(spec.Linux.Resources.HugepageLimits); err == nil && got != tc.want {
				t.Errorf("%d hugepage limits in the spec, want %d", got, tc.want)
			}
		})
	}
}
