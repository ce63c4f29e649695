package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/cgroups"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/peapod/peapod/internal/testutil"
)

func resList(cpu, mem string) corev1.ResourceList {
	l := corev1.ResourceList{}
	if cpu != "" {
		l[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		l[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return l
}

func ctrWith(name string, req, lim corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Resources: corev1.ResourceRequirements{Requests: req, Limits: lim}}
}

// cgroupValue reads a cgroup file: on v2 from the unified tree, on v1 from
// the controller's hierarchy.
func cgroupValue(t *testing.T, p, v1ctrl, v1file, v2file string) string {
	t.Helper()
	file := filepath.Join("/sys/fs/cgroup", v1ctrl, p, v1file)
	if cgroups.IsCgroup2UnifiedMode() {
		file = filepath.Join("/sys/fs/cgroup", p, v2file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// TestPodAndQOSCgroupValues creates pod cgroups and checks the values the
// kernel holds against POD-SEMANTICS §2.4 and §2.5 and Appendix A: shares
// (cpu.weight by the kubelet's linear formula on v2), CFS quota and memory
// limit only where upstream sets them, pids.max from --pod-max-pids, and
// the QoS parents' shares. It runs on cgroup v1 here and v2 in the VM.
func TestPodAndQOSCgroupValues(t *testing.T) {
	testutil.RequireRoot(t)
	for _, d := range testDrivers(t) {
		t.Run(d.driver.String(), func(t *testing.T) { testPodAndQOSCgroupValues(t, d) })
	}
}

func testPodAndQOSCgroupValues(t *testing.T, d testDriver) {
	m, err := newCgroupManager(d.driver, d.root, 1024)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.destroyRoot(t) })
	if err := m.ensureQOS(nil); err != nil {
		t.Fatal(err)
	}
	v2 := cgroups.IsCgroup2UnifiedMode()
	cpu := func(shares int) string {
		if v2 {
			return fmt.Sprint(cpuWeight(int64(shares)))
		}
		return fmt.Sprint(shares)
	}
	const unlimitedV1 = "9223372036854771712"
	for i, tc := range []struct {
		desc                string
		spec                corev1.PodSpec
		path                string
		shares              int
		quota, memory, pids string // "" = unlimited
	}{
		{"frontend (two containers, burstable)", corev1.PodSpec{Containers: []corev1.Container{
			ctrWith("a", resList("250m", "64Mi"), resList("500m", "128Mi")),
			ctrWith("b", resList("250m", "64Mi"), resList("500m", "128Mi")),
		}}, "kubepods/burstable", 512, "100000", "268435456", "1024"},
		{"guaranteed", corev1.PodSpec{Containers: []corev1.Container{ctrWith("a", resList("1", "1Gi"), resList("1", "1Gi"))}},
			"kubepods", 1024, "100000", "1073741824", "1024"},
		{"burstable with a cpu request only", corev1.PodSpec{Containers: []corev1.Container{ctrWith("a", resList("100m", ""), nil)}},
			"kubepods/burstable", 102, "", "", "1024"},
		{"burstable, one container without limits", corev1.PodSpec{Containers: []corev1.Container{
			ctrWith("a", resList("250m", "64Mi"), resList("500m", "128Mi")), ctrWith("b", nil, nil),
		}}, "kubepods/burstable", 256, "", "", "1024"},
		{"init container counts (max of init and regular)", corev1.PodSpec{
			InitContainers: []corev1.Container{ctrWith("i", resList("2", "1Gi"), resList("2", "1Gi"))},
			Containers:     []corev1.Container{ctrWith("a", resList("500m", "64Mi"), resList("1", "128Mi"))},
		}, "kubepods/burstable", 2048, "200000", "1073741824", "1024"},
		{"besteffort", corev1.PodSpec{Containers: []corev1.Container{ctrWith("a", nil, nil)}}, "kubepods/besteffort", 2, "", "", "1024"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: types.UID(fmt.Sprintf("uid-%d", i))}, Spec: tc.spec}
			if _, err := m.createPod(pod); err != nil {
				t.Fatal(err)
			}
			defer m.destroyPod(pod.UID)
			p := m.podPath(pod)
			if want := d.path(tc.path + "/pod" + string(pod.UID)); p != want {
				t.Fatalf("path %s, want %s", p, want)
			}
			if got := cgroupValue(t, p, "cpu", "cpu.shares", "cpu.weight"); got != cpu(tc.shares) {
				t.Errorf("shares/weight %s, want %s", got, cpu(tc.shares))
			}
			// The quota comes once the first containers started.
			if quota := cgroupValue(t, p, "cpu", "cpu.cfs_quota_us", "cpu.max"); quota != "-1" && quota != "max 100000" {
				t.Errorf("CPU quota %q before the containers start, want none", quota)
			}
			if err := m.setPodQuota(pod); err != nil {
				t.Fatal(err)
			}
			quota := cgroupValue(t, p, "cpu", "cpu.cfs_quota_us", "cpu.max")
			switch {
			case v2 && tc.quota == "" && quota != "max 100000":
				t.Errorf("cpu.max %q, want max 100000", quota)
			case v2 && tc.quota != "" && quota != tc.quota+" 100000":
				t.Errorf("cpu.max %q, want %s 100000", quota, tc.quota)
			case !v2 && tc.quota == "" && quota != "-1":
				t.Errorf("cfs_quota_us %s, want -1", quota)
			case !v2 && tc.quota != "" && quota != tc.quota:
				t.Errorf("cfs_quota_us %s, want %s", quota, tc.quota)
			}
			if !v2 && tc.quota != "" {
				if period := cgroupValue(t, p, "cpu", "cpu.cfs_period_us", ""); period != "100000" {
					t.Errorf("cfs_period_us %s", period)
				}
			}
			mem := cgroupValue(t, p, "memory", "memory.limit_in_bytes", "memory.max")
			wantMem := tc.memory
			if wantMem == "" {
				wantMem = map[bool]string{true: "max", false: unlimitedV1}[v2]
			}
			if mem != wantMem {
				t.Errorf("memory limit %s, want %s", mem, wantMem)
			}
			if pids := cgroupValue(t, p, "pids", "pids.max", "pids.max"); pids != tc.pids {
				t.Errorf("pids.max %s, want %s", pids, tc.pids)
			}
		})
	}
	// QoS parents: BestEffort the minimum, Burstable what it is given.
	if got := cgroupValue(t, m.driver.Path(m.qosCgroup(corev1.PodQOSBestEffort)), "cpu", "cpu.shares", "cpu.weight"); got != cpu(2) {
		t.Errorf("besteffort shares %s, want %s", got, cpu(2))
	}
	for _, milli := range []int64{500, 0} {
		if err := m.setBurstable(milli); err != nil {
			t.Fatal(err)
		}
		want := cpu(int(milliCPUToShares(milli)))
		if got := cgroupValue(t, m.driver.Path(m.qosCgroup(corev1.PodQOSBurstable)), "cpu", "cpu.shares", "cpu.weight"); got != want {
			t.Errorf("burstable shares for %dm: %s, want %s", milli, got, want)
		}
	}
}
