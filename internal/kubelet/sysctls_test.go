package kubelet

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSysctlAllowlist(t *testing.T) {
	w, err := newSysctlAllowlist([]string{"kernel.msg*", "net.core.somaxconn"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		hostNet    bool
		hostIPC    bool
		wantReason string
	}{
		{"net.ipv4.ip_local_port_range", false, false, ""},
		{"net/ipv4/tcp_syncookies", false, false, ""}, // slashes as dots
		{"kernel.msgmax", false, false, ""},
		{"net.core.somaxconn", false, false, ""},
		{"kernel.sem", false, false, `forbidden sysctl: "kernel.sem" not allowlisted`},
		{"vm.swappiness", false, false, `forbidden sysctl: "vm.swappiness" not allowlisted`},
		{"net.ipv4.tcp_syncookies", true, false, `forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled`},
		{"kernel.msgmax", false, true, `forbidden sysctl: "kernel.msgmax" not allowed with host ipc enabled`},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: tc.hostNet, HostIPC: tc.hostIPC,
			SecurityContext: &corev1.PodSecurityContext{Sysctls: []corev1.Sysctl{{Name: tc.name, Value: "1"}}}}}
		if got := w.check(pod); got != tc.wantReason {
			t.Errorf("check(%s, hostNet=%v, hostIPC=%v) = %q, want %q", tc.name, tc.hostNet, tc.hostIPC, got, tc.wantReason)
		}
	}
	for _, bad := range []string{"vm.*", "fs.protected_hardlinks"} {
		if _, err := newSysctlAllowlist([]string{bad}); err == nil || !strings.Contains(err.Error(), "not known to be namespaced") {
			t.Errorf("allowing %s: %v, want refused as not namespaced", bad, err)
		}
	}
}
