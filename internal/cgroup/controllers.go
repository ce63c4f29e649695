package cgroup

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/cgroups"
)

// HasController reports whether the host's cgroups offer the controller
// name (such as "hugetlb"): mounted as a v1 hierarchy, or listed in the v2
// root's cgroup.controllers. A runtime must not ask runc for limits of a
// controller the host lacks: runc fails the container with "cannot set
// hugetlb limit: container could not join or create cgroup".
func HasController(name string) bool {
	if cgroups.IsCgroup2UnifiedMode() {
		b, err := os.ReadFile(filepath.Join(mountRoot, "cgroup.controllers"))
		return err == nil && slices.Contains(strings.Fields(string(b)), name)
	}
	_, err := cgroups.FindCgroupMountpoint("", name)
	return err == nil
}
