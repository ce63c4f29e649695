package oci

import (
	"testing"
)

func TestClampOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		desc string
		p    Privileges
		in   int
		want int
	}{
		{"privileged keeps negative", Privileges{SysResource: true}, -998, -998},
		{"unprivileged clamps to own value", Privileges{OOMScoreAdj: 0}, -998, 0},
		{"unprivileged may raise", Privileges{OOMScoreAdj: 0}, 1000, 1000},
		{"unprivileged with own negative value", Privileges{OOMScoreAdj: -500}, -998, -500},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := tc.p.ClampOOMScoreAdj(tc.in); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDetectPrivilegesReadsProc(t *testing.T) {
	p := DetectPrivileges()
	if p.OOMScoreAdj < -1000 || p.OOMScoreAdj > 1000 {
		t.Fatalf("implausible oom_score_adj %d", p.OOMScoreAdj)
	}
}
