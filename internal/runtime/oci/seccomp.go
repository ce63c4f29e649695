package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The RuntimeDefault seccomp profile. containerd's and Docker's default
// profiles allow a list of syscalls and refuse the rest; peapod's refuses
// a list instead (everything else is allowed), which has the same effect
// for the syscalls that matter: those that reach kernel state shared with
// the host or other containers (keyrings, modules, clocks, kexec, the
// swap, accounting, mounts and pivot_root, BPF, perf, handle-based opens,
// userfaultfd, tracing of other processes) are refused with EPERM unless
// the container holds the capability that governs them, as the default
// profiles do; and new user namespaces (clone and unshare with
// CLONE_NEWUSER; clone3, whose flags seccomp cannot see, with ENOSYS so
// that the C library falls back to clone) are refused to containers
// without CAP_SYS_ADMIN, since inside one a process holds every
// capability and reaches kernel code that is otherwise root-only.
type seccompRule struct {
	names []string
	// unlessCap lets containers holding one of these capabilities use
	// the syscalls (nil: refused to all).
	unlessCap []string
}

var seccompRules = []seccompRule{
	{[]string{"add_key", "keyctl", "request_key"}, nil},
	{[]string{"create_module", "delete_module", "finit_module", "get_kernel_syms", "init_module", "query_module"}, []string{"CAP_SYS_MODULE"}},
	{[]string{"kexec_file_load", "kexec_load", "reboot"}, []string{"CAP_SYS_BOOT"}},
	{[]string{"clock_adjtime", "clock_settime", "settimeofday", "stime"}, []string{"CAP_SYS_TIME"}},
	{[]string{"acct"}, []string{"CAP_SYS_PACCT"}},
	{[]string{"swapon", "swapoff"}, []string{"CAP_SYS_ADMIN"}},
	{[]string{"mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
		"mount_setattr", "setns", "quotactl", "quotactl_fd", "fanotify_init", "lookup_dcookie", "nfsservctl", "sethostname", "setdomainname"}, []string{"CAP_SYS_ADMIN"}},
	{[]string{"bpf"}, []string{"CAP_SYS_ADMIN", "CAP_BPF"}},
	{[]string{"perf_event_open"}, []string{"CAP_SYS_ADMIN", "CAP_PERFMON"}},
	{[]string{"open_by_handle_at"}, []string{"CAP_DAC_READ_SEARCH"}},
	{[]string{"ptrace", "process_vm_readv", "process_vm_writev", "kcmp"}, []string{"CAP_SYS_PTRACE"}},
	{[]string{"iopl", "ioperm"}, []string{"CAP_SYS_RAWIO"}},
	{[]string{"syslog"}, []string{"CAP_SYSLOG", "CAP_SYS_ADMIN"}},
	{[]string{"userfaultfd", "uselib", "ustat", "sysfs", "_sysctl", "vm86", "vm86old"}, nil},
}

// DefaultSeccomp is the RuntimeDefault profile for a container with the
// effective capabilities caps.
func DefaultSeccomp(caps []string) *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	enosys := uint(unix.ENOSYS)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
	}
	held := func(any []string) bool {
		for _, c := range any {
			if slices.Contains(caps, c) {
				return true
			}
		}
		return false
	}
	for _, r := range seccompRules {
		if r.unlessCap != nil && held(r.unlessCap) {
			continue
		}
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: r.names, Action: specs.ActErrno, ErrnoRet: &eperm})
	}
	if !held([]string{"CAP_SYS_ADMIN"}) {
		newUser := uint64(unix.CLONE_NEWUSER)
		p.Syscalls = append(p.Syscalls,
			specs.LinuxSyscall{Names: []string{"clone", "unshare"}, Action: specs.ActErrno, ErrnoRet: &eperm,
				Args: []specs.LinuxSeccompArg{{Index: 0, Value: newUser, ValueTwo: newUser, Op: specs.OpMaskedEqual}}},
			specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys})
	}
	return p
}

// ErrSeccompProfile is wrapped by errors loading a Localhost profile.
var ErrSeccompProfile = errors.New("cannot load seccomp profile")

// LoadSeccomp reads a Localhost profile: a JSON seccomp profile in the
// OCI runtime-spec layout (defaultAction, architectures, syscalls with
// names, action, args), which Docker-style profiles also follow.
func LoadSeccomp(path string) (*specs.LinuxSeccomp, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %w", ErrSeccompProfile, path, err)
	}
	var p specs.LinuxSeccomp
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("%w %q: decoding: %w", ErrSeccompProfile, path, err)
	}
	if p.DefaultAction == "" {
		return nil, fmt.Errorf("%w %q: no defaultAction", ErrSeccompProfile, path)
	}
	return &p, nil
}
