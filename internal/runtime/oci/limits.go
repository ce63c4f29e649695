package oci

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// capSysResource is the bit of CAP_SYS_RESOURCE in the capability sets.
const capSysResource = 24

// Privileges records what this process may ask of the kernel for its
// children. Without CAP_SYS_RESOURCE a process may not lower
// oom_score_adj below its own value nor raise an rlimit above its hard
// limit; runc then fails obscurely ("can't get final child's PID from pipe"),
// so peapod clamps oom_score_adj first, as containerd's
// restrict_oom_score_adj does. Specs set no rlimits at all: containers
// inherit conmon's, which can never exceed the hard limit.
type Privileges struct {
	SysResource bool
	// OOMScoreAdj is this process's own oom_score_adj.
	OOMScoreAdj int
	// Held are the capabilities this process has, effective and in its
	// bounding set, which are all a container it starts can get; nil
	// means unknown (no clamping).
	Held map[string]bool
}

// AllCapabilities are the Linux capabilities by number.
var allCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
	"CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
	"CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
	"CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// AllCapabilities returns every capability peapod knows, in kernel order.
func AllCapabilities() []string { return append([]string(nil), allCapabilities...) }

// capabilityNames maps a capability bit set to names.
func capabilityNames(bits uint64) map[string]bool {
	out := map[string]bool{}
	for i, name := range allCapabilities {
		if bits&(1<<i) != 0 {
			out[name] = true
		}
	}
	return out
}

// ClampCapabilities keeps the capabilities of set this process holds, the
// way containerd gives a privileged container its own current set: runc
// cannot grant more, and asking makes it fail ("unable to apply caps:
// operation not permitted").
func (p Privileges) ClampCapabilities(set []string) []string {
	if p.Held == nil {
		return set
	}
	out := set[:0:0]
	for _, c := range set {
		if p.Held[c] {
			out = append(out, c)
		}
	}
	return out
}

// Withheld lists the known capabilities this process lacks.
func (p Privileges) Withheld() []string {
	if p.Held == nil {
		return nil
	}
	var out []string
	for _, c := range allCapabilities {
		if !p.Held[c] {
			out = append(out, c)
		}
	}
	return out
}

// DetectPrivileges reads /proc/self.
func DetectPrivileges() Privileges {
	p := Privileges{SysResource: true}
	if data, err := os.ReadFile("/proc/self/oom_score_adj"); err == nil {
		p.OOMScoreAdj, _ = strconv.Atoi(strings.TrimSpace(string(data)))
	}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return p
	}
	defer f.Close()
	var eff, bnd uint64
	haveEff, haveBnd := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, v, _ := strings.Cut(sc.Text(), ":")
		bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			continue
		}
		switch key {
		case "CapEff":
			eff, haveEff = bits, true
			p.SysResource = bits&(1<<capSysResource) != 0
		case "CapBnd":
			bnd, haveBnd = bits, true
		}
	}
	if haveEff && haveBnd {
		p.Held = capabilityNames(eff & bnd)
	}
	return p
}

// ClampOOMScoreAdj returns adj, or the lowest value this process may set.
func (p Privileges) ClampOOMScoreAdj(adj int) int {
	if !p.SysResource && adj < p.OOMScoreAdj {
		return p.OOMScoreAdj
	}
	return adj
}
