package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// cgroupDir is where a cgroup path lives on this host: the unified
// hierarchy on v2, the memory controller's hierarchy on v1.
func cgroupDir(p string) string {
	if cgroups.IsCgroup2UnifiedMode() {
		return filepath.Join("/sys/fs/cgroup", p)
	}
	return filepath.Join("/sys/fs/cgroup/memory", p)
}

func TestPodCgroups(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("cgroup tests need root")
	}
	root := fmt.Sprintf("/peapod-cgtest-%d", os.Getpid())
	m, err := newCgroupManager(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range []string{m.qosCgroup(corev1.PodQOSBurstable), m.qosCgroup(corev1.PodQOSBestEffort), m.kubepods(), root} {
			if mgr, err := manager(p); err == nil {
				mgr.Destroy()
			}
		}
	})
	if err := m.ensureQOS(nil); err != nil {
		t.Fatal(err)
	}
	full := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("64Mi")}
	for _, tc := range []struct {
		desc string
		res  corev1.ResourceRequirements
		want string
	}{
		{"guaranteed", corev1.ResourceRequirements{Requests: full, Limits: full}, root + "/kubepods/poduid-g"},
		{"burstable", corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}, root + "/kubepods/burstable/poduid-b"},
		{"besteffort", corev1.ResourceRequirements{}, root + "/kubepods/besteffort/poduid-e"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			uid := types.UID(map[string]string{"guaranteed": "uid-g", "burstable": "uid-b", "besteffort": "uid-e"}[tc.desc])
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: uid}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Resources: tc.res}}}}
			p, err := m.createPod(pod)
			if err != nil {
				t.Fatal(err)
			}
			if p != tc.want {
				t.Fatalf("path %s, want %s", p, tc.want)
			}
			if _, err := os.Stat(cgroupDir(p)); err != nil {
				t.Fatalf("pod cgroup not created: %v", err)
			}
			if err := m.destroyPod(pod.UID); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(cgroupDir(p)); !os.IsNotExist(err) {
				t.Fatalf("pod cgroup left after destroy: %v", err)
			}
		})
	}
}
