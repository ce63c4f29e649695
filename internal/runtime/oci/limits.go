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
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			bits, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err == nil {
				p.SysResource = bits&(1<<capSysResource) != 0
			}
		}
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
