package oci

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// specVersion is the runtime-spec version peapod's specs declare. Every field
// it uses exists in 1.0.2, and crun 1.8 (Debian bookworm) refuses any
// ociVersion but 1.0.x, so it says 1.0.2 rather than the library's newest.
const specVersion = "1.0.2"

// DefaultCapabilities is the capability set containers get by default, the
// same as containerd's and Docker's.
var defaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// DefaultCapabilities returns a fresh copy of the default capability set.
func DefaultCapabilities() []string { return append([]string(nil), defaultCapabilities...) }

// NewSpec returns the base Linux spec every container starts from: the
// usual pseudo filesystems, masked and read-only /proc paths, default
// capabilities and no namespaces (the caller adds those).
func NewSpec(root string) *specs.Spec {
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version:  specVersion,
		Root:     &specs.Root{Path: root},
		Hostname: "",
		Process: &specs.Process{
			Cwd:  "/",
			User: specs.User{UID: 0, GID: 0},
			Env:  []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Capabilities: &specs.LinuxCapabilities{
				Bounding: caps, Effective: append([]string(nil), caps...), Permitted: append([]string(nil), caps...),
			},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
		},
		Linux: &specs.Linux{
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
				"/sys/firmware", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
		},
	}
}

// Namespace returns a namespace entry: a new namespace when path is empty,
// else the one at path.
func Namespace(t specs.LinuxNamespaceType, path string) specs.LinuxNamespace {
	return specs.LinuxNamespace{Type: t, Path: path}
}
