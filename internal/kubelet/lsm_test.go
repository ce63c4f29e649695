package kubelet

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAppArmorRefusal(t *testing.T) {
	profile := func(typ corev1.AppArmorProfileType) *corev1.AppArmorProfile {
		return &corev1.AppArmorProfile{Type: typ}
	}
	podWith := func(podProfile, ctrProfile *corev1.AppArmorProfile, annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: annotations}, Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{AppArmorProfile: podProfile},
			Containers:      []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{AppArmorProfile: ctrProfile}}},
		}}
	}
	const noHost = "Cannot enforce AppArmor: AppArmor is not enabled on the host"
	const noRuntime = "Cannot enforce AppArmor: peapod's runtime does not apply AppArmor profiles"
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		host hostLSM
		want string
	}{
		{"none", podWith(nil, nil, nil), hostLSM{}, ""},
		{"pod RuntimeDefault", podWith(profile(corev1.AppArmorProfileTypeRuntimeDefault), nil, nil), hostLSM{}, noHost},
		{"container Localhost", podWith(nil, profile(corev1.AppArmorProfileTypeLocalhost), nil), hostLSM{}, noHost},
		{"Unconfined", podWith(profile(corev1.AppArmorProfileTypeUnconfined), profile(corev1.AppArmorProfileTypeUnconfined), nil), hostLSM{}, ""},
		{"beta annotation", podWith(nil, nil, map[string]string{appArmorBetaPrefix + "app": "runtime/default"}), hostLSM{}, noHost},
		{"beta annotation unconfined", podWith(nil, nil, map[string]string{appArmorBetaPrefix + "app": "unconfined"}), hostLSM{}, ""},
		{"host with AppArmor", podWith(profile(corev1.AppArmorProfileTypeRuntimeDefault), nil, nil), hostLSM{appArmor: true}, noRuntime},
	} {
		if got := tc.host.appArmorRefusal(tc.pod); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestSecurityModulesAtAdmission: a pod asking for AppArmor on a host
// without it is rejected before anything runs (reason AppArmor), as
// upstream's kubelet rejects it; one with seLinuxOptions runs, with one
// Warning that they are not applied.
func TestSecurityModulesAtAdmission(t *testing.T) {
	tk := newTestKubelet(t)
	tk.lsm = hostLSM{}
	tk.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "armored"}, Spec: corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}},
		Containers:      []corev1.Container{ctr("app")}}})
	pod := tk.sync(t, "armored")
	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "AppArmor" ||
		pod.Status.Message != "Pod was rejected: Cannot enforce AppArmor: AppArmor is not enabled on the host" {
		t.Errorf("status %s %q %q: want Failed, AppArmor, the upstream message", pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	}
	if n := tk.rt.instances("app"); n != 0 {
		t.Errorf("%d instances of a rejected pod's container", n)
	}
	if ev := tk.eventsFor("*"); !slices.Contains(ev, "AppArmor: Cannot enforce AppArmor: AppArmor is not enabled on the host") {
		t.Errorf("events %q", ev)
	}

	tk2 := newTestKubelet(t)
	tk2.lsm = hostLSM{}
	tk2.add(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "labelled"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "app", Image: "busybox", SecurityContext: &corev1.SecurityContext{SELinuxOptions: &corev1.SELinuxOptions{Level: "s0:c1,c2"}}}}}})
	tk2.sync(t, "labelled")
	tk2.sync(t, "labelled")
	if n := tk2.rt.instances("app"); n != 1 {
		t.Errorf("%d instances of the pod with seLinuxOptions, want 1", n)
	}
	warned := 0
	for _, e := range tk2.eventsFor("*") {
		if e == "SELinuxOptionsIgnored: seLinuxOptions are not applied: SELinux is not enabled on the host" {
			warned++
		}
	}
	if warned != 1 {
		t.Errorf("%d SELinuxOptionsIgnored events, want 1: %q", warned, tk2.eventsFor("*"))
	}
}
