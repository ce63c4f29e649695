package kubelet

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/cgroup"
	"github.com/peapod/peapod/internal/testutil"
)

// cgroupDir is where a cgroup path lives on this host: the unified
// hierarchy on v2, the memory controller's hierarchy on v1.
func cgroupDir(p string) string {
	if cgroups.IsCgroup2UnifiedMode() {
		return filepath.Join("/sys/fs/cgroup", p)
	}
	return filepath.Join("/sys/fs/cgroup/memory", p)
}

// testDriver is a cgroup driver a test runs with and the root it uses.
type testDriver struct {
	driver cgroup.Driver
	root   string
	// path turns a cgroupfs-style path below the root, such as
	// kubepods/burstable/poduid, into the driver's path.
	path func(rel string) string
}

// testDrivers are cgroupfs, and systemd where systemd runs (the cgroup v2
// VM runs it; PEAPOD_TEST_SYSTEMD=1 makes its absence a failure there).
func testDrivers(t *testing.T) []testDriver {
	t.Helper()
	tag := fmt.Sprintf("peapodtest%d", os.Getpid())
	fs, _ := cgroup.NewDriver(cgroup.DriverCgroupfs)
	out := []testDriver{{fs, "/" + tag, func(rel string) string { return path.Join("/", tag, rel) }}}
	sd, err := cgroup.NewDriver(cgroup.DriverSystemd)
	switch {
	case err == nil:
		out = append(out, testDriver{sd, "/" + tag + ".slice", func(rel string) string {
			n := cgroup.Name{tag}
			for _, e := range strings.Split(rel, "/") {
				n = n.Child(e)
			}
			return n.Systemd()
		}})
	case os.Getenv("PEAPOD_TEST_SYSTEMD") == "1":
		t.Fatalf("PEAPOD_TEST_SYSTEMD=1 but %v", err)
	default:
		t.Logf("systemd driver not tested: %v", err)
	}
	return out
}

// destroyRoot removes a test's cgroup root and everything below it.
func (d testDriver) destroyRoot(t *testing.T) {
	n, err := d.driver.ParseRoot(d.root)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.driver.Destroy(n); err != nil {
		t.Errorf("removing %s: %v", d.root, err)
	}
}

func TestPodCgroups(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range testDrivers(t) {
		t.Run(d.driver.String(), func(t *testing.T) { testPodCgroups(t, d) })
	}
}

func testPodCgroups(t *testing.T, d testDriver) {
	m, err := newCgroupManager(d.driver, d.root, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.destroyRoot(t) })
	if err := m.ensureQOS(nil); err != nil {
		t.Fatal(err)
	}
	full := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	for _, tc := range []struct {
		desc string
		res  corev1.ResourceRequirements
		want string
	}{
		{"guaranteed", corev1.ResourceRequirements{Requests: full, Limits: full}, "kubepods/poduid-g"},
		{"burstable", corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}, "kubepods/burstable/poduid-b"},
		{"besteffort", corev1.ResourceRequirements{}, "kubepods/besteffort/poduid-e"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			uid := types.UID(map[string]string{"guaranteed": "uid-g", "burstable": "uid-b", "besteffort": "uid-e"}[tc.desc])
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: tc.res}}}}
			parent, err := m.createPod(pod)
			if err != nil {
				t.Fatal(err)
			}
			p := m.podPath(pod)
			if want := d.path(tc.want); p != want {
				t.Fatalf("path %s, want %s", p, want)
			}
			if _, err := os.Stat(cgroupDir(p)); err != nil {
				t.Fatalf("pod cgroup not created: %v", err)
			}
			wantParent := p
			if d.driver.String() == cgroup.DriverSystemd {
				wantParent = path.Base(p)
			}
			if parent != wantParent {
				t.Errorf("runtime parent %s, want %s", parent, wantParent)
			}
			if got := m.podCgroupUIDs(); !got[uid] || len(got) != 1 {
				t.Errorf("pod cgroups found: %v, want only %s", got, uid)
			}
			if err := m.destroyPod(pod.UID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(cgroupDir(p)); !os.IsNotExist(err) {
				t.Fatalf("pod cgroup left after destroy: %v", err)
			}
			if got := m.podCgroupUIDs(); len(got) != 0 {
				t.Errorf("pod cgroups found after destroy: %v", got)
			}
		})
	}
}
